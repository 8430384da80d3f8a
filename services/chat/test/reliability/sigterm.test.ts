/**
 * Fault 4: SIGTERM to an instance (a real child process) while six clients send. To make
 * the drain window observable, the test holds the shared conversation's row lock, so sends
 * are in flight inside the instance when the signal arrives. During the drain the instance
 * refuses new upgrades (503 SHUTTING_DOWN) and reports not-ready; the in-flight sends are
 * acknowledged once committed; then its clients get close 1012 and resume on the other
 * instance; the process exits within DRAIN_MS + a few seconds.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from '@chat/test-support/harness';
import { checkViews, converged, expectIntact, printSummary } from './support/checker.ts';
import { spawnInstance, stopAllInstances, type ChildInstance } from './support/child.ts';
import { ResilientClient, runLoad, totals } from './support/resilient-client.ts';
import { group, users } from './support/setup.ts';
import { tryUpgrade, type UpgradeOutcome } from './support/upgrade-attempt.ts';

const DRAIN_MS = 3000;
let db: TestDatabase;
let a: ChildInstance;
let b: ChildInstance;
let releaseLock: (() => void) | null = null;
const clients: ResilientClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  [a, b] = await Promise.all([spawnInstance('st-a', db.url, { DRAIN_MS: String(DRAIN_MS) }), spawnInstance('st-b', db.url)]);
});

afterAll(async () => {
  releaseLock?.();
  await Promise.all(clients.map((c) => c.stop()));
  await stopAllInstances();
  await db?.drop();
});

it('SIGTERM under load: refuses new sockets, acks in-flight sends, closes 1012, exits in time, nothing lost', async () => {
  const names = ['s0', 's1', 's2', 's3', 's4', 's5'];
  const tokens = await users(a, names);
  const room = await group(a, tokens.s0!, 'room', names.slice(1));
  const side = await group(b, tokens.s1!, 'side', ['s2', 's3']);
  const membership = (name: string) => (['s1', 's2', 's3'].includes(name) ? [room, side] : [room]);
  names.forEach((name, i) => {
    const seqs = Object.fromEntries(membership(name).map((id) => [id, 0]));
    clients.push(new ResilientClient(name, tokens[name]!, [a.ws, b.ws], seqs, i % 2));
  });
  await Promise.all(clients.map((c) => c.start()));
  const onA = clients.filter((c) => c.url === a.ws);
  expect(onA).toHaveLength(3);

  const started = Date.now();
  const load = runLoad(clients, {
    perClient: 60,
    concurrency: 3,
    intervalMs: 20,
    conversation: (client, i) => membership(client.name)[i % membership(client.name).length]!,
  });
  await eventually(() => totals(clients).acked >= 100, '100 acks before the signal', 20_000);

  // Hold the room's seq counter: sends to it wait inside the instances' write transactions.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  releaseLock = release;
  let locked!: () => void;
  const lockHeld = new Promise<void>((resolve) => (locked = resolve));
  const holder = db.sql.begin(async (tx) => {
    await tx`select id from conversations where id = ${room} for update`;
    locked();
    await released;
  });
  holder.catch(() => {}); // awaited below; on an early failure afterAll releases it
  await lockHeld;
  await eventually(
    async () =>
      (await db.sql`select 1 from pg_stat_activity where application_name = 'chat-st-a-send' and wait_event_type = 'Lock'`).length > 0,
    'a send of instance a waiting on the lock',
  );

  const sigtermAt = Date.now();
  a.signal('SIGTERM');

  // The signal was handled: the instance reports itself draining (the lock keeps the drain going).
  await eventually(async () => ((await (await fetch(`${a.http}/readyz`)).json()) as { draining: boolean }).draining, 'a draining', DRAIN_MS);
  // Draining: every new upgrade is refused, typed (or the port is already closed); none opens.
  const attempts: UpgradeOutcome[] = [];
  await eventually(
    async () => {
      const outcome = await tryUpgrade(a.ws, tokens.s0!);
      attempts.push(outcome);
      return outcome.kind === 'refused' && outcome.status === 503;
    },
    'an upgrade refused with 503 while draining',
    DRAIN_MS,
  ).catch(async (error) => {
    const exit = await Promise.race([a.exited, Promise.resolve('still running')]);
    throw new Error(`${String(error)}; first attempts: ${JSON.stringify(attempts.slice(0, 3))}; process: ${JSON.stringify(exit)}\n${a.output()}`);
  });
  const refused = attempts.filter((o) => o.kind === 'refused') as Extract<UpgradeOutcome, { kind: 'refused' }>[];
  expect(attempts.filter((o) => o.kind === 'opened')).toEqual([]);
  for (const outcome of refused) {
    expect(outcome.status).toBe(503);
    expect(outcome.body).toEqual({ code: 'SHUTTING_DOWN', message: expect.any(String), retryable: true });
  }
  const ready = await fetch(`${a.http}/readyz`);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toMatchObject({ draining: true });

  release();
  await holder;
  const exit = await a.exited;
  const exitMs = exit.at - sigtermAt;
  expect(exit.code).toBe(0);
  expect(exitMs).toBeLessThan(DRAIN_MS + 3000);
  // After the exit the port is closed: connection refused, never a socket.
  expect(await tryUpgrade(a.ws, tokens.s0!)).toMatchObject({ kind: 'network', code: 'ECONNREFUSED' });

  await load;
  const loadMs = Date.now() - started;
  for (const client of onA) {
    expect(client.closes.map((c) => [c.url, c.code])).toEqual([[a.ws, 1012]]);
    expect(client.url).toBe(b.ws);
  }
  const recoverMs = Math.max(...onA.map((c) => c.resumes.find((r) => r.at >= sigtermAt)!.at - sigtermAt));
  const t = totals(clients);
  // Sends that were waiting on the lock inside a when the signal came were acknowledged by a.
  const ackedDuringDrain = clients.flatMap((c) => c.acked()).filter((s) => s.ackedVia === a.ws && s.settledAt! >= sigtermAt).length;
  expect(ackedDuringDrain).toBeGreaterThan(0);

  await converged(db.sql, clients, [room, side]);
  const report = await checkViews(db.sql, clients, [room, side]);
  printSummary({
    scenario: 'SIGTERM (graceful drain) of 1 of 2 instances',
    load: `${clients.length} clients on 2 instances, ${t.sends} sends over ${loadMs} ms (~${Math.round((t.sends * 1000) / loadMs)}/s)`,
    acked: report.acked,
    lost: report.lost,
    duplicated: report.duplicated,
    gaps: report.gaps,
    outOfOrder: report.outOfOrder,
    recoverMs,
    exitMs,
    drainMs: DRAIN_MS,
    ackedDuringDrain,
    refusedUpgradesWhileDraining: refused.length,
    retriedSends: t.retried,
    duplicateAcks: t.duplicateAcks,
    errorCodes: t.errorCodes,
  });
  expectIntact(report);
  expect(t.failed).toBe(0);
  expect(report.acked).toBe(clients.length * 60);
}, 60_000);
