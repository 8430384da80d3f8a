/** What the servers say about themselves: RSS (from /metrics or /proc) and database counters. */
import { readFile } from 'node:fs/promises';
import postgres from 'postgres';
import { httpBase } from './common.ts';

export async function rssFromProc(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

export async function rssFromMetrics(target: string): Promise<number> {
  const response = await fetch(`${httpBase(target)}/metrics`);
  const text = await response.text();
  const match = /^process_resident_memory_bytes(?:\{[^}]*\})?\s+([0-9.e+]+)/m.exec(text);
  if (!match) throw new Error(`${target}: no process_resident_memory_bytes in /metrics`);
  return Number(match[1]);
}

/** RSS of each target's server, bytes. */
export async function serverRss(targets: string[], pids: number[]): Promise<number[]> {
  return Promise.all(targets.map((t, i) => (pids[i] !== undefined ? rssFromProc(pids[i]!) : rssFromMetrics(t))));
}

export interface DbCounters {
  xactCommit: number;
  xactRollback: number;
  tupReturned: number;
  tupFetched: number;
  tupInserted: number;
  at: number;
}

export async function dbCounters(url: string): Promise<DbCounters> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_stat_clear_snapshot()`;
    const [row] = await sql<{ xact_commit: string; xact_rollback: string; tup_returned: string; tup_fetched: string; tup_inserted: string }[]>`
      select xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted
      from pg_stat_database where datname = current_database()`;
    return {
      xactCommit: Number(row!.xact_commit),
      xactRollback: Number(row!.xact_rollback),
      tupReturned: Number(row!.tup_returned),
      tupFetched: Number(row!.tup_fetched),
      tupInserted: Number(row!.tup_inserted),
      at: performance.now(),
    };
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Prometheus histograms of ours that explain send latency: their _sum and _count, summed over targets. */
export const SERVER_HISTOGRAMS = ['chat_send_commit_seconds', 'chat_send_ack_seconds', 'chat_send_batch_size', 'chat_fanout_lag_seconds'] as const;
export type ServerHistograms = Record<(typeof SERVER_HISTOGRAMS)[number], { sum: number; count: number }>;

export async function scrapeHistograms(targets: string[]): Promise<ServerHistograms | null> {
  const totals = Object.fromEntries(SERVER_HISTOGRAMS.map((n) => [n, { sum: 0, count: 0 }])) as ServerHistograms;
  try {
    for (const target of targets) {
      const text = await (await fetch(`${httpBase(target)}/metrics`)).text();
      for (const name of SERVER_HISTOGRAMS) {
        const sum = new RegExp(`^${name}_sum(?:\\{[^}]*\\})?\\s+([0-9.e+-]+)`, 'm').exec(text);
        const count = new RegExp(`^${name}_count(?:\\{[^}]*\\})?\\s+([0-9.e+-]+)`, 'm').exec(text);
        if (sum && count) {
          totals[name].sum += Number(sum[1]);
          totals[name].count += Number(count[1]);
        }
      }
    }
    return totals;
  } catch {
    return null;
  }
}

/** Means over the run from two scrapes (seconds → ms). */
export function histogramMeans(before: ServerHistograms | null, after: ServerHistograms | null): Record<string, number | null> | null {
  if (!before || !after) return null;
  const mean = (name: (typeof SERVER_HISTOGRAMS)[number], scale: number) => {
    const count = after[name].count - before[name].count;
    return count > 0 ? Math.round(((after[name].sum - before[name].sum) / count) * scale * 1000) / 1000 : null;
  };
  return {
    commitMeanMs: mean('chat_send_commit_seconds', 1000),
    ackMeanMs: mean('chat_send_ack_seconds', 1000),
    batchMeanSize: mean('chat_send_batch_size', 1),
    transactions: after.chat_send_batch_size.count - before.chat_send_batch_size.count,
    fanoutLagMeanMs: mean('chat_fanout_lag_seconds', 1000),
  };
}

/** A few gauges from /metrics (prom-client defaults), summed over the targets; null where missing. */
export async function scrapeGauges(targets: string[], names: string[]): Promise<Record<string, number> | null> {
  try {
    const totals: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    for (const target of targets) {
      const text = await (await fetch(`${httpBase(target)}/metrics`)).text();
      for (const name of names) {
        const match = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.e+-]+)`, 'm').exec(text);
        if (!match) return null;
        totals[name]! += Number(match[1]);
      }
    }
    return totals;
  } catch {
    return null;
  }
}
