/**
 * Looks for plaintext where the server keeps or passes things: every row of every table
 * (all schemas but PostgreSQL's own, the job queue's included), the bus's NOTIFY payloads,
 * files on disk (attachment blobs, the service's log). Used by the end-to-end encryption
 * tests: after two browsers exchange encrypted messages, none of their words may be found.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import postgres from 'postgres';

/** The LISTEN/NOTIFY bus's channel (services/chat/src/fanout/pg-bus.ts). A tap that saw nothing proves nothing: callers assert it saw payloads. */
export const BUS_CHANNEL = 'chat_events_v2';

export interface Hit {
  where: string;
  needle: string;
  excerpt: string;
}

/** Records every payload published on the bus until `stop()`. */
export async function tapBus(databaseUrl: string): Promise<{ payloads: string[]; stop: () => Promise<void> }> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const payloads: string[] = [];
  const listening = await sql.listen(BUS_CHANNEL, (payload) => payloads.push(payload));
  return {
    payloads,
    stop: async () => {
      await listening.unlisten();
      await sql.end();
    },
  };
}

/** Every row of every user table, as JSON text, that contains a needle (case-insensitive). */
export async function scanDatabase(databaseUrl: string, needles: string[]): Promise<{ tables: number; rows: number; hits: Hit[] }> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const tables = await sql<{ schema: string; name: string }[]>`
      select table_schema as schema, table_name as name from information_schema.tables
      where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
      order by 1, 2`;
    const hits: Hit[] = [];
    let rows = 0;
    for (const table of tables) {
      const all = await sql.unsafe<{ row: string }[]>(`select row_to_json(t)::text as row from ${quote(table.schema)}.${quote(table.name)} t`);
      rows += all.length;
      for (const { row } of all) hits.push(...find(`${table.schema}.${table.name}`, row, needles));
    }
    return { tables: tables.length, rows, hits };
  } finally {
    await sql.end();
  }
}

/** Every file under `dir` (recursively) whose bytes contain a needle (UTF-8, case-insensitive). */
export async function scanFiles(dir: string, needles: string[]): Promise<{ files: number; hits: Hit[] }> {
  const hits: Hit[] = [];
  let files = 0;
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        files += 1;
        hits.push(...find(full, (await readFile(full)).toString('utf8'), needles));
      }
    }
  };
  await walk(dir);
  return { files, hits };
}

/** The needles found in `text`, with a little context each. */
export function find(where: string, text: string, needles: string[]): Hit[] {
  const lower = text.toLowerCase();
  const hits: Hit[] = [];
  for (const needle of needles) {
    const at = lower.indexOf(needle.toLowerCase());
    if (at >= 0) hits.push({ where, needle, excerpt: text.slice(Math.max(0, at - 40), at + needle.length + 40) });
  }
  return hits;
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}
