/**
 * Fault 5: a connect storm, then paged replay. Runs its OWN embedded PostgreSQL (it counts
 * every connection to the database and reads the server's log).
 *  - 2000 clients (200 users x 10 tabs) reconnect at once to two instances (real child
 *    processes), each resuming 25 events behind. Each one either resumes and gets exactly
 *    its 25 missed events, in order, or is refused with a typed 429/503, never anything else.
 *  - Meanwhile pg_stat_activity is sampled: no pool ever holds more connections than its size.
 *  - Then, with auto_explain on, one client resumes a conversation 1,400+ events behind: the
 *    replay is complete and in order, and no replay query reads more than a page of rows.
 */
import { migrate } from '@chat/db';
import { startEmbeddedPostgres, type EmbeddedServer } from '@chat/db/embedded';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres, { type Sql } from 'postgres';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { printSummary } from './support/checker.ts';
import { spawnInstance, stopAllInstances, stopInstance, type ChildInstance } from './support/child.ts';
import { flood } from './support/flood.ts';
import { group, users } from './support/setup.ts';

const USERS = 200;
const TABS = 10;
const BEHIND = 25;
const POOL = 8;
/** connect() in @chat/db: the Drizzle pool of POOL connections and the one-connection send writer; the bus adds one listener. */
const REPLAY_PAGE = 500;

let dir: string;
let server: EmbeddedServer;
let sql: Sql;
let serverLog = '';
const instances: ChildInstance[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'chat-storm-'));
  await chmod(dir, 0o755);
  server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), database: 'chat', onLog: (line) => (serverLog += line) });
  await migrate(server.url);
  sql = postgres(server.url, { max: 1, onnotice: () => {}, connection: { application_name: 'storm-sampler' } });
});

afterAll(async () => {
  await stopAllInstances();
  await sql?.end({ timeout: 1 });
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Outcome =
  | { kind: 'resumed'; seqs: number[]; replayed: number; ms: number }
  | { kind: 'refused'; status: number; body: any }
  | { kind: 'failed'; reason: string };

/** Connects, resumes `behind` seqs back, and closes once the resume is acknowledged. */
function reconnect(url: string, token: string, conversationId: string, from: number): Promise<Outcome> {
  const started = Date.now();
  return new Promise<Outcome>((resolve) => {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: 30_000 });
    const seqs: number[] = [];
    let done = false;
    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      socket.removeAllListeners();
      socket.on('error', () => {});
      if (outcome.kind === 'resumed') socket.close();
      else socket.terminate();
      resolve(outcome);
    };
    socket.on('error', (error: NodeJS.ErrnoException) => finish({ kind: 'failed', reason: error.code ?? error.message }));
    socket.on('close', (code) => finish({ kind: 'failed', reason: `closed ${code}` }));
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        let body: unknown = null;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = Buffer.concat(chunks).toString('utf8');
        }
        finish({ kind: 'refused', status: response.statusCode ?? 0, body });
      });
    });
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'ready') socket.send(JSON.stringify({ type: 'resume', id: 'resume', conversations: { [conversationId]: from } }));
      else if (frame.conversationId === conversationId && typeof frame.seq === 'number') seqs.push(frame.seq);
      else if (frame.id === 'resume' && frame.type === 'ack') finish({ kind: 'resumed', seqs, replayed: frame.result.replayed, ms: Date.now() - started });
      else if (frame.id === 'resume') finish({ kind: 'failed', reason: `resume error ${frame.code}` });
    });
  });
}

it('2000 reconnects at once: typed outcomes only, pools bounded, and a 1,400-event replay is paged', async () => {
  instances.push(
    ...(await Promise.all(
      ['storm-a', 'storm-b'].map((name) => spawnInstance(name, server.url, { DB_POOL_SIZE: String(POOL), PRESENCE_HEARTBEAT_MS: '60000' })),
    )),
  );
  const [a, b] = instances as [ChildInstance, ChildInstance];
  const names = Array.from({ length: USERS }, (_, i) => `u${i}`);
  const tokens = await users(a, names);
  const big = await group(a, tokens.u0!, 'big', names.slice(1));
  // History: 1,200 messages on top of the 200 member.added events.
  const writer = await flood(a.ws, tokens.u0!, big, { tag: 'h', body: (i) => `history ${i}`, max: 1200, window: 100 });
  expect(await writer.done).toBe(1200);
  writer.socket.close();
  const [{ last }] = await sql<[{ last: number }]>`select last_seq::int as last from conversations where id = ${big}`;
  expect(last).toBe(USERS + 1200);

  // Sample the database's connections for the whole storm.
  const peak = new Map<string, number>();
  let peakTotal = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const rows = await sql<{ app: string; n: number }[]>`
        select application_name as app, count(*)::int as n from pg_stat_activity
        where datname = 'chat' and backend_type = 'client backend' group by 1`;
      let total = 0;
      for (const row of rows) {
        peak.set(row.app, Math.max(peak.get(row.app) ?? 0, row.n));
        total += row.n;
      }
      peakTotal = Math.max(peakTotal, total);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();

  const stormTokens = await Promise.all(names.map((name) => mintV4({ sub: name, name })));
  const started = Date.now();
  const outcomes = await Promise.all(
    Array.from({ length: USERS * TABS }, (_, i) => reconnect(i % 2 ? b.ws : a.ws, stormTokens[i % USERS]!, big, last - BEHIND)),
  );
  const stormMs = Date.now() - started;
  sampling = false;
  await sampler;

  const resumed = outcomes.filter((o) => o.kind === 'resumed') as Extract<Outcome, { kind: 'resumed' }>[];
  const refused = outcomes.filter((o) => o.kind === 'refused') as Extract<Outcome, { kind: 'refused' }>[];
  const failed = outcomes.filter((o) => o.kind === 'failed');
  expect(failed).toEqual([]);
  for (const r of refused) {
    expect([429, 503]).toContain(r.status);
    expect(r.body).toEqual({ code: expect.any(String), message: expect.any(String), retryable: true, ...(r.body.details ? { details: r.body.details } : {}) });
  }
  const expected = Array.from({ length: BEHIND }, (_, i) => last - BEHIND + 1 + i);
  const wrong = resumed.filter((r) => r.replayed !== BEHIND || r.seqs.join() !== expected.join());
  expect(wrong.length).toBe(0);

  // No pool grew past its size (each instance: the Drizzle pool, the send writer, one listener).
  for (const instance of instances) {
    expect(peak.get(`chat-${instance.name}`) ?? 0).toBeLessThanOrEqual(POOL);
    expect(peak.get(`chat-${instance.name}-send`) ?? 0).toBeLessThanOrEqual(1);
  }
  expect(peak.get('chat-listener') ?? 0).toBeLessThanOrEqual(instances.length);
  const allowed = instances.length * (POOL + 1 + 1) + 1;
  expect(peakTotal).toBeLessThanOrEqual(allowed);
  const latencies = resumed.map((r) => r.ms).sort((x, y) => x - y);

  // Paged replay: a fresh instance whose sessions log every plan with actual row counts.
  await Promise.all(instances.splice(0).map((instance) => stopInstance(instance)));
  await sql.unsafe(`alter database chat set session_preload_libraries = 'auto_explain'`);
  await sql.unsafe(`alter database chat set auto_explain.log_min_duration = 0`);
  await sql.unsafe(`alter database chat set auto_explain.log_analyze = on`);
  const c = await spawnInstance('storm-c', server.url, { DB_POOL_SIZE: String(POOL) });
  instances.push(c);
  const logStart = serverLog.length;
  const full = await reconnect(c.ws, tokens.u1!, big, 0);
  expect(full.kind).toBe('resumed');
  const replay = full as Extract<Outcome, { kind: 'resumed' }>;
  expect(replay.replayed).toBe(last);
  expect(replay.seqs).toEqual(Array.from({ length: last }, (_, i) => i + 1));
  // Every plan of a stream read (messages or events after a seq), and the most rows any node read.
  const plans = await eventually(() => {
    // Drizzle quotes identifiers: `"m"."seq" > $2 ... order by "m"."seq" asc`.
    const found = readPlans(serverLog.slice(logStart)).filter((p) => /seq"? > \$2/.test(p.text) && /order by ("?\w+"?\.)?"?seq"? asc/i.test(p.text));
    return found.length >= Math.ceil(last / REPLAY_PAGE) ? found : null;
  }, 'the replay queries in the server log');
  const maxRows = Math.max(...plans.map((p) => p.maxRows));
  expect(maxRows).toBeLessThanOrEqual(REPLAY_PAGE + 1);

  printSummary({
    scenario: 'connect storm + paged replay',
    load: `${outcomes.length} reconnects at once (${USERS} users x ${TABS} tabs) on 2 instances, each resuming ${BEHIND} events behind`,
    resumed: resumed.length,
    refused: refused.length,
    refusedCodes: Object.fromEntries([...new Set(refused.map((r) => r.body.code))].map((code) => [code, refused.filter((r) => r.body.code === code).length])),
    failed: failed.length,
    wrongReplays: wrong.length,
    stormMs,
    resumeP50Ms: latencies[Math.floor(latencies.length / 2)] ?? null,
    resumeP99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? null,
    peakDbConnections: peakTotal,
    dbConnectionLimit: allowed,
    peakByPool: Object.fromEntries(peak),
    replayEvents: last,
    replayQueries: plans.length,
    maxRowsPerReplayQuery: maxRows,
  });
}, 90_000);

/** auto_explain entries: the query text and the largest row count any plan node reported. */
function readPlans(log: string): { text: string; maxRows: number }[] {
  const entries = log.split(/LOG:\s+duration: [\d.]+ ms\s+plan:/).slice(1);
  return entries.map((entry) => {
    const text = /Query Text:([\s\S]*?)(?:\n\s*(?:Limit|Sort|Index|Seq|Nested|Hash|Merge|Result|Append|Unique|Aggregate|GroupAggregate|Gather|Bitmap|Subquery|CTE|Incremental)\b)/.exec(entry)?.[1] ?? entry;
    let maxRows = 0;
    for (const match of entry.matchAll(/actual time=[\d.]+\.\.[\d.]+ rows=([\d.]+) loops=(\d+)/g)) maxRows = Math.max(maxRows, Number(match[1]) * Number(match[2]));
    for (const match of entry.matchAll(/Rows Removed by Filter: (\d+)/g)) maxRows = Math.max(maxRows, Number(match[1]));
    return { text, maxRows };
  });
}
