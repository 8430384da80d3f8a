/**
 * Fault 1: `kill -9` of one of two instances (real child processes) while six clients send.
 * Clients of the killed instance reconnect to the other and resume with their last seqs;
 * sends whose outcome they never learned are retried with the same clientMsgId.
 * Afterwards every acknowledged message is in every member's view exactly once, in order.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from '@chat/test-support/harness';
import { checkViews, converged, expectIntact, printSummary } from './support/checker.ts';
import { spawnInstance, stopAllInstances, type ChildInstance } from './support/child.ts';
import { ResilientClient, runLoad, totals } from './support/resilient-client.ts';
import { group, users } from './support/setup.ts';

let db: TestDatabase;
let a: ChildInstance;
let b: ChildInstance;
const clients: ResilientClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  [a, b] = await Promise.all([spawnInstance('k9-a', db.url), spawnInstance('k9-b', db.url)]);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await stopAllInstances();
  await db?.drop();
});

it('kill -9 of one instance mid-stream: nothing acknowledged is lost or duplicated', async () => {
  const names = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];
  const tokens = await users(a, names);
  const everyone = await group(a, tokens.k0!, 'everyone', names.slice(1));
  const evens = await group(b, tokens.k1!, 'some', ['k0', 'k2', 'k4', 'k5']);
  const membership = (name: string) => (['k0', 'k1', 'k2', 'k4', 'k5'].includes(name) ? [everyone, evens] : [everyone]);

  // k0, k2, k4 start on a (the one that dies); k1, k3, k5 on b.
  names.forEach((name, i) => {
    const seqs = Object.fromEntries(membership(name).map((id) => [id, 0]));
    clients.push(new ResilientClient(name, tokens[name]!, [a.ws, b.ws], seqs, i % 2));
  });
  await Promise.all(clients.map((c) => c.start()));
  const onA = clients.filter((c) => c.url === a.ws);
  expect(onA.map((c) => c.name)).toEqual(['k0', 'k2', 'k4']);

  const started = Date.now();
  const load = runLoad(clients, {
    perClient: 60,
    concurrency: 3,
    intervalMs: 20,
    conversation: (client, i) => membership(client.name)[i % membership(client.name).length]!,
  });
  // Mid-stream: once a third of the messages are acknowledged, SIGKILL the process we started.
  await eventually(() => totals(clients).acked >= 120, '120 acks before the kill', 20_000);
  const killedAt = Date.now();
  a.signal('SIGKILL');
  const exit = await a.exited;
  expect(exit.signal).toBe('SIGKILL');
  await load;
  const loadMs = Date.now() - started;

  // The killed instance's clients saw an abnormal close and resumed on b.
  for (const client of onA) {
    expect(client.closes.map((c) => c.url)).toEqual([a.ws]);
    expect(client.closes[0]!.code).toBe(1006);
    expect(client.url).toBe(b.ws);
  }
  const recoverMs = Math.max(...onA.map((c) => c.resumes.find((r) => r.at >= killedAt)!.at - killedAt));
  for (const client of clients.filter((c) => !onA.includes(c))) expect(client.closes).toEqual([]);
  expect((await fetch(`${b.http}/readyz`)).status).toBe(200);

  const conversations = [everyone, evens];
  await converged(db.sql, clients, conversations);
  const report = await checkViews(db.sql, clients, conversations);
  const t = totals(clients);
  printSummary({
    scenario: 'kill -9 of 1 of 2 instances',
    load: `${clients.length} clients on 2 instances, ${t.sends} sends over ${loadMs} ms (~${Math.round((t.sends * 1000) / loadMs)}/s)`,
    acked: report.acked,
    lost: report.lost,
    duplicated: report.duplicated,
    gaps: report.gaps,
    outOfOrder: report.outOfOrder,
    recoverMs,
    retriedSends: t.retried,
    duplicateAcks: t.duplicateAcks,
    errorCodes: t.errorCodes,
  });
  expectIntact(report);
  expect(t.failed).toBe(0);
  expect(report.acked).toBe(clients.length * 60);
  // The fault really hit in-flight work: some send on the dead instance had to be retried.
  expect(t.retried).toBeGreaterThan(0);
}, 60_000);
