/**
 * Fault 2: PostgreSQL restarted under load. This file runs its OWN embedded PostgreSQL
 * (the shared test server is used by other files in parallel), stops it while six clients
 * on two instances send, and starts it again on the same port and data folder.
 *  - The instances stay up and the sockets stay open; /readyz goes 503, then 200.
 *  - Sends during the outage get a typed, retryable UNAVAILABLE (never a false ack);
 *    the clients retry them with the same clientMsgId.
 *  - Instance b's listener comes back seconds after instance a's (listenerRetryMs 4000 vs
 *    10), so events committed while b was not listening must still reach b's clients.
 */
import { migrate } from '@chat/db';
import { startEmbeddedPostgres, type EmbeddedServer } from '@chat/db/embedded';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres, { type Sql } from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from '@chat/test-support/harness';
import { checkViews, converged, expectIntact, printSummary } from './support/checker.ts';
import { spawnInstance, stopAllInstances, type ChildInstance } from './support/child.ts';
import { readMetric } from './support/metrics.ts';
import { ResilientClient, runLoad, totals } from './support/resilient-client.ts';
import { group, users } from './support/setup.ts';

let dir: string;
let server: EmbeddedServer;
let sql: Sql;
let a: ChildInstance;
let b: ChildInstance;
const clients: ResilientClient[] = [];

beforeAll(async () => {
  // Under /tmp and world-traversable: as root the package runs Postgres as the `postgres` user.
  dir = await mkdtemp(path.join(tmpdir(), 'chat-pg-restart-'));
  await chmod(dir, 0o755);
  server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), database: 'chat' });
  await migrate(server.url);
  sql = postgres(server.url, { max: 2, onnotice: () => {} });
  // Real processes: "the instances stay up" means the processes are still running afterwards.
  [a, b] = await Promise.all([
    spawnInstance('pg-a', server.url, { LISTENER_RETRY_MS: '10' }),
    spawnInstance('pg-b', server.url, { LISTENER_RETRY_MS: '4000' }),
  ]);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await stopAllInstances();
  await sql?.end({ timeout: 1 });
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function readyz(instance: ChildInstance): Promise<{ status: number; body: any }> {
  if (instance.hasExited()) {
    throw new Error(`instance ${instance.name} exited: ${JSON.stringify(await instance.exited)}\n${instance.output().slice(-4000)}`);
  }
  const response = await fetch(`${instance.http}/readyz`);
  return { status: response.status, body: await response.json() };
}

it('PostgreSQL restart under load: typed retryable errors, no false ack, listeners re-subscribe and replay', async () => {
  const names = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
  const tokens = await users(a, names);
  const room = await group(a, tokens.p0!, 'room', names.slice(1));
  const pair = await group(b, tokens.p1!, 'pair', ['p2']);
  const membership = (name: string) => (name === 'p1' || name === 'p2' ? [room, pair] : [room]);
  names.forEach((name, i) => {
    const seqs = Object.fromEntries(membership(name).map((id) => [id, 0]));
    clients.push(new ResilientClient(name, tokens[name]!, [a.ws, b.ws], seqs, i % 2));
  });
  await Promise.all(clients.map((c) => c.start()));

  let stopLoad = false;
  const started = Date.now();
  const load = runLoad(clients, {
    perClient: 400,
    concurrency: 3,
    intervalMs: 20,
    conversation: (client, i) => membership(client.name)[i % membership(client.name).length]!,
    until: () => stopLoad,
  });
  await eventually(() => totals(clients).acked >= 60, '60 acks before the outage', 20_000);

  // Outage.
  const downAt = Date.now();
  await server.stop();
  await eventually(async () => (await readyz(a)).status === 503 && (await readyz(b)).status === 503, 'both instances not ready', 10_000);
  const unavailable = () => clients.flatMap((c) => c.errorFrames).filter((f) => f.code === 'UNAVAILABLE').length;
  await eventually(() => unavailable() >= 5, 'sends refused with UNAVAILABLE during the outage', 10_000);
  const ackedBeforeRestart = totals(clients).acked;

  // Back, same port and data folder.
  const restartAt = Date.now();
  server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), port: server.port, database: 'chat' });
  // Watch b's listener from the restart on: an ack that came before a moment at which b's
  // listener was still seen down was committed while b was not listening.
  let lastDeafAt = restartAt;
  let bListening = false;
  const watchB = (async () => {
    while (!bListening) {
      if (Date.now() - restartAt > 15_000) throw new Error('b never re-subscribed');
      const askedAt = Date.now();
      const state = await readyz(b);
      if (state.body.listener) bListening = true;
      else lastDeafAt = askedAt;
      if (!bListening) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  await eventually(async () => (await readyz(a)).status === 200, 'a ready again', 15_000);
  const aReadyAt = Date.now();
  await watchB;
  await eventually(async () => (await readyz(b)).status === 200, 'b ready again', 15_000);
  const bReadyAt = Date.now();
  const committedWhileBDeaf = clients.flatMap((c) => c.acked()).filter((s) => s.settledAt! > restartAt && s.settledAt! < lastDeafAt).length;
  const ackedWhileBDeaf = totals(clients).acked;
  await eventually(() => totals(clients).acked >= ackedWhileBDeaf + 60, '60 more acks after recovery', 20_000);
  stopLoad = true;
  await load;
  const loadMs = Date.now() - started;

  const t = totals(clients);
  // Both processes survived the outage (an uncaught exception in a driver callback would end them).
  for (const instance of [a, b]) {
    expect(instance.hasExited(), `${instance.name} exited:\n${instance.output().slice(-3000)}`).toBe(false);
    expect(instance.output()).not.toMatch(/TypeError|uncaught/i);
  }
  // Every error a client saw was the typed, retryable UNAVAILABLE; no socket was dropped.
  const codes = new Set(clients.flatMap((c) => c.errorFrames).map((f) => `${f.code}/${f.retryable}`));
  expect([...codes]).toEqual(['UNAVAILABLE/true']);
  for (const client of clients) expect(client.closes).toEqual([]);
  expect(committedWhileBDeaf).toBeGreaterThan(0);
  for (const instance of [a, b]) expect(await readMetric(instance.http, 'chat_listener_reconnects_total')).toBeGreaterThanOrEqual(1);
  // b read the events it did not hear from the database.
  expect(await readMetric(b.http, 'chat_gap_filled_events_total')).toBeGreaterThan(0);

  await converged(sql, clients, [room, pair]);
  const report = await checkViews(sql, clients, [room, pair]);
  printSummary({
    scenario: 'PostgreSQL stop/start under load (2 instances)',
    load: `${clients.length} clients on 2 instances, ${t.sends} sends over ${loadMs} ms (~${Math.round((t.sends * 1000) / loadMs)}/s)`,
    acked: report.acked,
    lost: report.lost,
    duplicated: report.duplicated,
    gaps: report.gaps,
    outOfOrder: report.outOfOrder,
    outageMs: restartAt - downAt,
    recoverMs: bReadyAt - restartAt,
    aReadyMs: aReadyAt - restartAt,
    unavailableErrors: unavailable(),
    ackedDuringOutage: ackedBeforeRestart - clients.flatMap((c) => c.acked()).filter((s) => s.settledAt! < downAt).length,
    committedWhileBListenerDown: committedWhileBDeaf,
    retriedSends: t.retried,
    duplicateAcks: t.duplicateAcks,
    errorCodes: t.errorCodes,
  });
  expectIntact(report);
  expect(t.failed).toBe(0);
}, 60_000);
