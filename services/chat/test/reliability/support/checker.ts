/**
 * The end-of-fault check. For every member, its view of each conversation is rebuilt from
 * the frames it received (live and resume replay, over all its connections, in arrival
 * order). Then:
 *  - every acknowledged send is a committed row with the acked id and seq (durable before ack);
 *  - the database's seq stream of each conversation is 1..last_seq with no gap or repeat;
 *  - every member's view runs from its first resume point to last_seq, each seq exactly
 *    once, in order, and each message frame is the committed message at that seq;
 *  - every acknowledged message appears in every member's view exactly once.
 */
import type { Sql } from 'postgres';
import { expect } from 'vitest';
import { eventually } from '@chat/test-support/harness';
import type { ResilientClient, SendRecord } from './resilient-client.ts';

export interface ViewReport {
  members: number;
  acked: number;
  /** Acked messages missing from the database or from some member's view (counted per member). */
  lost: number;
  /** Extra copies: a seq or message shown twice to a member, or two rows for one clientMsgId. */
  duplicated: number;
  gaps: number;
  outOfOrder: number;
  problems: string[];
}

export async function lastSeqs(sql: Sql, conversationIds: string[]): Promise<Map<string, number>> {
  const rows = await sql<{ id: string; last_seq: number }[]>`select id, last_seq::int as last_seq from conversations where id = any(${conversationIds}::uuid[])`;
  return new Map(rows.map((r) => [r.id, r.last_seq]));
}

/** Waits until every member has seen up to each conversation's committed last seq. */
export async function converged(sql: Sql, clients: ResilientClient[], conversationIds: string[], timeoutMs = 20_000): Promise<void> {
  await eventually(
    async () => {
      const last = await lastSeqs(sql, conversationIds);
      return clients.every((client) =>
        conversationIds.every((id) => !client.views.has(id) || (client.lastSeq.get(id) ?? 0) >= (last.get(id) ?? 0)),
      );
    },
    'every member to see every committed event',
    timeoutMs,
  );
}

export async function checkViews(sql: Sql, clients: ResilientClient[], conversationIds: string[]): Promise<ViewReport> {
  const report: ViewReport = { members: clients.length, acked: 0, lost: 0, duplicated: 0, gaps: 0, outOfOrder: 0, problems: [] };
  const problem = (text: string) => {
    if (report.problems.length < 50) report.problems.push(text);
  };
  const acked: SendRecord[] = clients.flatMap((c) => c.acked());
  report.acked = acked.length;
  const last = await lastSeqs(sql, conversationIds);

  // The committed stream of each conversation.
  const messageAt = new Map<string, Map<number, string>>();
  const byId = new Map<string, { conversationId: string; seq: number }>();
  for (const id of conversationIds) {
    const messages = await sql<{ id: string; seq: number }[]>`select id, seq::int as seq from messages where conversation_id = ${id} order by seq`;
    const events = await sql<{ seq: number }[]>`select seq::int as seq from events where conversation_id = ${id} order by seq`;
    const seqs = [...messages.map((m) => m.seq), ...events.map((e) => e.seq)].sort((a, b) => a - b);
    const expected = last.get(id) ?? 0;
    if (seqs.length !== expected || seqs.some((s, i) => s !== i + 1)) problem(`database stream of ${id} is not 1..${expected}`);
    messageAt.set(id, new Map(messages.map((m) => [m.seq, m.id])));
    for (const m of messages) byId.set(m.id, { conversationId: id, seq: m.seq });
  }

  // Durable before ack, and one row per clientMsgId.
  const ackedIds = new Map<string, string>();
  for (const send of acked) {
    const row = byId.get(send.message!.id);
    if (!row || row.seq !== send.message!.seq || row.conversationId !== send.conversationId) {
      report.lost++;
      problem(`acked ${send.clientMsgId} (${send.message!.id} @${send.message!.seq}) is not committed as acked`);
    }
    const key = `${send.message!.senderId}\u0000${send.clientMsgId}`;
    const other = ackedIds.get(key);
    if (other && other !== send.message!.id) {
      report.duplicated++;
      problem(`${send.clientMsgId} acked as two messages`);
    }
    ackedIds.set(key, send.message!.id);
  }
  const keys = acked.map((s) => s.clientMsgId);
  if (keys.length > 0) {
    const rows = await sql<{ sender_id: string; client_msg_id: string; n: number }[]>`
      select sender_id, client_msg_id, count(*)::int as n from messages
      where client_msg_id = any(${keys}::text[]) group by 1, 2 having count(*) > 1`;
    for (const row of rows) {
      report.duplicated += row.n - 1;
      problem(`${row.client_msg_id} stored ${row.n} times`);
    }
  }

  // Each member's view.
  for (const client of clients) {
    for (const id of conversationIds) {
      const view = client.views.get(id);
      if (!view) continue;
      const start = client.startSeq.get(id) ?? 0;
      const end = last.get(id) ?? 0;
      const seen = new Set<number>();
      let previous = start;
      for (const frame of view) {
        const seq = frame.seq as number;
        if (seq <= start || seen.has(seq)) {
          report.duplicated++;
          problem(`${client.name} saw ${id}@${seq} twice (or before its start ${start})`);
          continue;
        }
        if (seq < previous) {
          report.outOfOrder++;
          problem(`${client.name} saw ${id}@${seq} after @${previous}`);
        } else if (seq > previous + 1) {
          report.gaps += seq - previous - 1;
          problem(`${client.name} skipped ${id}@${previous + 1}..${seq - 1}`);
        }
        seen.add(seq);
        previous = Math.max(previous, seq);
        if (frame.type === 'message.created' && messageAt.get(id)?.get(seq) !== frame.message?.id) {
          problem(`${client.name}: ${id}@${seq} is ${frame.message?.id}, committed ${messageAt.get(id)?.get(seq)}`);
        }
      }
      if (previous < end) {
        report.gaps += end - previous;
        problem(`${client.name} never saw ${id}@${previous + 1}..${end}`);
      }
      const counts = new Map<string, number>();
      for (const frame of view) if (frame.type === 'message.created') counts.set(frame.message.id, (counts.get(frame.message.id) ?? 0) + 1);
      for (const send of acked) {
        if (send.conversationId !== id || send.message!.seq <= start) continue;
        const n = counts.get(send.message!.id) ?? 0;
        if (n === 0) {
          report.lost++;
          problem(`${client.name} never got acked ${send.clientMsgId} (${id}@${send.message!.seq})`);
        } else if (n > 1) {
          report.duplicated += n - 1;
        }
      }
    }
  }
  return report;
}

/** One line per scenario, picked up for docs/reliability.md. */
export function printSummary(summary: Record<string, unknown>): void {
  console.log(`RELIABILITY ${JSON.stringify(summary)}`);
}

/** The fault suites' common verdict: no problem found, nothing lost, duplicated, missing or reordered. */
export function expectIntact(report: ViewReport): void {
  expect(report.problems).toEqual([]);
  expect({ lost: report.lost, duplicated: report.duplicated, gaps: report.gaps, outOfOrder: report.outOfOrder }).toEqual({
    lost: 0,
    duplicated: 0,
    gaps: 0,
    outOfOrder: 0,
  });
}
