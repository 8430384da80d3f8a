/**
 * Faults of the NATS bus (BUS=nats), with real child instances and a nats-server this file
 * starts (never one that happens to run on the machine):
 *  1. the nats-server killed (SIGKILL) and started again under load: the sockets stay open,
 *     /readyz goes 503 then 200, and every member's view converges with nothing acknowledged
 *     lost or shown twice (outbox rows left unpublished go out through the relay; what the
 *     instances missed while disconnected comes from the database);
 *  2. an instance killed between a send's commit and its publish (the test-only hook
 *     CHAT_TEST_KILL_AFTER_COMMIT forces that window): the message reaches a member on another
 *     instance live, through the outbox relay, within the bound, without a reconnect; the
 *     sender's retry gets the same message back and nobody sees it twice;
 *  3. the relay killed: the instance that would relay dies too while the row waits, and the
 *     surviving instance's relay publishes it.
 * The recovery times are printed (RELIABILITY lines, docs/reliability.md).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from '@chat/test-support/harness';
import { startNatsServer, type NatsServer } from '@chat/test-support/nats';
import { checkViews, converged, expectIntact, printSummary } from './support/checker.ts';
import { spawnInstance, stopAllInstances, stopInstance, type ChildInstance } from './support/child.ts';
import { metric, scrape } from './support/metrics.ts';
import { ResilientClient, runLoad, totals } from './support/resilient-client.ts';
import { call, group, users } from './support/setup.ts';

const RELAY_AFTER_MS = 1000;
let db: TestDatabase;
let nats: NatsServer;
const clients: ResilientClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  nats = await startNatsServer();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await stopAllInstances();
  await nats?.stop();
  await db?.drop();
});

function natsInstance(name: string, env: Record<string, string> = {}): Promise<ChildInstance> {
  return spawnInstance(name, db.url, { BUS: 'nats', NATS_URL: nats.url, OUTBOX_RELAY_AFTER_MS: String(RELAY_AFTER_MS), ...env });
}

async function ready(instance: ChildInstance): Promise<number> {
  if (instance.hasExited()) throw new Error(`instance ${instance.name} exited:\n${instance.output().slice(-4000)}`);
  return (await fetch(`${instance.http}/readyz`)).status;
}

const outboxRows = async () => (await db.sql<{ n: number }[]>`select (select count(*) from bus_outbox) + (select count(*) from bus_outbox_signals) as n`)[0]!.n;

it('the nats-server killed and restarted under load: nothing acknowledged is lost or shown twice', async () => {
  const [a, b] = await Promise.all([natsInstance('nr-a'), natsInstance('nr-b')]);
  const names = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
  const tokens = await users(a, names);
  const everyone = await group(a, tokens.n0!, 'everyone', names.slice(1));
  const some = await group(b, tokens.n1!, 'some', ['n0', 'n2', 'n4']);
  const membership = (name: string) => (['n0', 'n1', 'n2', 'n4'].includes(name) ? [everyone, some] : [everyone]);
  const mine: ResilientClient[] = names.map((name, i) => new ResilientClient(name, tokens[name]!, [a.ws, b.ws], Object.fromEntries(membership(name).map((id) => [id, 0])), i % 2));
  clients.push(...mine);
  await Promise.all(mine.map((c) => c.start()));

  const started = Date.now();
  const load = runLoad(mine, { perClient: 60, concurrency: 3, intervalMs: 25, conversation: (client, i) => membership(client.name)[i % membership(client.name).length]! });
  await eventually(() => totals(mine).acked >= 100, '100 acks before the outage', 20_000);
  await nats.kill();
  const downAt = Date.now();
  await eventually(async () => (await ready(a)) === 503 && (await ready(b)) === 503, 'both instances not ready');
  const ackedDuringOutage = totals(mine).acked;
  // Sends go on committing while NATS is down (PostgreSQL is the source of truth).
  await eventually(() => totals(mine).acked >= ackedDuringOutage + 20, '20 more acks while NATS is down', 20_000);
  await nats.start();
  const upAt = Date.now();
  await eventually(async () => (await ready(a)) === 200 && (await ready(b)) === 200, 'both instances ready again', 20_000);
  const readyMs = Date.now() - upAt;
  await load;
  const loadMs = Date.now() - started;

  const conversations = [everyone, some];
  await converged(db.sql, mine, conversations);
  const convergedMs = Date.now() - upAt;
  for (const client of mine) expect(client.closes).toEqual([]); // no socket dropped: the bus recovered underneath
  const report = await checkViews(db.sql, mine, conversations);
  await eventually(async () => (await outboxRows()) === 0, 'the outbox drained');
  const [ma, mb] = await Promise.all([scrape(a.http), scrape(b.http)]);
  const t = totals(mine);
  printSummary({
    scenario: 'nats-server SIGKILLed and restarted under load (BUS=nats)',
    load: `${mine.length} clients on 2 instances, ${t.sends} sends over ${loadMs} ms`,
    natsDownMs: upAt - downAt,
    acked: report.acked,
    lost: report.lost,
    duplicated: report.duplicated,
    gaps: report.gaps,
    outOfOrder: report.outOfOrder,
    readyAfterRestartMs: readyMs,
    convergedAfterRestartMs: convergedMs,
    relayedEvents: metric(ma, 'chat_bus_outbox_relayed_total') + metric(mb, 'chat_bus_outbox_relayed_total'),
    duplicatePublishes: metric(ma, 'chat_bus_duplicate_publishes_total') + metric(mb, 'chat_bus_duplicate_publishes_total'),
    duplicateEventsDroppedByRooms: metric(ma, 'chat_bus_duplicate_events_total') + metric(mb, 'chat_bus_duplicate_events_total'),
  });
  expectIntact(report);
  expect(t.failed).toBe(0);
  expect(report.acked).toBe(mine.length * 60);
  expect(metric(ma, 'chat_bus_reconnects_total') + metric(mb, 'chat_bus_reconnects_total')).toBeGreaterThanOrEqual(2);
  await Promise.all(mine.map((c) => c.stop()));
  await Promise.all([stopInstance(a), stopInstance(b)]);
}, 120_000);

/**
 * X on `killer` sends one message in a conversation with Y on `survivor`; nothing else is
 * written there, so Y can only get it live through the outbox relay. Returns how long after
 * `killer` died Y had it.
 */
async function killBetweenCommitAndPublish(killer: ChildInstance, survivor: ChildInstance, setupOn: ChildInstance, prefix: string, alsoKill?: ChildInstance) {
  const [x, y] = [`${prefix}x`, `${prefix}y`];
  const tokens = await users(setupOn, [x, y]);
  const direct = await call(setupOn, tokens[x]!, 'POST', '/v1/conversations/direct', { userId: y });
  expect([200, 201]).toContain(direct.status);
  const pair = direct.body.id as string;
  const lastSeq = (await db.sql<{ n: number }[]>`select last_seq::int as n from conversations where id = ${pair}`)[0]!.n;
  const sender = new ResilientClient(x, tokens[x]!, [killer.ws, survivor.ws], { [pair]: lastSeq }, 0);
  const receiver = new ResilientClient(y, tokens[y]!, [survivor.ws], { [pair]: lastSeq }, 0);
  clients.push(sender, receiver);
  await Promise.all([sender.start(), receiver.start()]);

  const sending = sender.send(pair, 'committed, then the writer died');
  const exit = await killer.exited;
  expect(exit.signal).toBe('SIGKILL');
  if (alsoKill) {
    // The other relay dies too while the row waits for its bound.
    alsoKill.signal('SIGKILL');
    await alsoKill.exited;
  }
  const committed = await db.sql<{ id: string; seq: number }[]>`select id, seq::int as seq from messages where conversation_id = ${pair}`;
  expect(committed).toHaveLength(1); // committed before the kill, and never acknowledged by the killer
  const delivered = await eventually(() => receiver.views.get(pair)!.find((f) => f.type === 'message.created'), 'the message on the survivor, live', 10_000);
  const deliveredMs = Date.now() - exit.at;
  expect(delivered.message.id).toBe(committed[0]!.id);
  expect(receiver.closes).toEqual([]); // live, not through a reconnect and resume

  // The sender never got the ack; its retry (same clientMsgId) on the survivor returns the original.
  const record = await sending;
  expect(record.status).toBe('acked');
  expect(record.duplicateAck).toBe(true);
  expect(record.message!.id).toBe(committed[0]!.id);
  await converged(db.sql, [sender, receiver], [pair]);
  const report = await checkViews(db.sql, [sender, receiver], [pair]);
  expectIntact(report);
  await eventually(async () => (await outboxRows()) === 0, 'the outbox drained');
  return { deliveredMs, report, survivorMetrics: await scrape(survivor.http) };
}

it('an instance killed between commit and publish: the relay delivers the message live, within the bound, once', async () => {
  const [killer, survivor] = await Promise.all([natsInstance('kc-a', { CHAT_TEST_KILL_AFTER_COMMIT: 'true' }), natsInstance('kc-b')]);
  const { deliveredMs, report, survivorMetrics } = await killBetweenCommitAndPublish(killer, survivor, survivor, 'kc');
  printSummary({
    scenario: 'instance SIGKILLed between commit and publish (BUS=nats)',
    relayAfterMs: RELAY_AFTER_MS,
    acked: report.acked,
    lost: report.lost,
    duplicated: report.duplicated,
    deliveredAfterKillMs: deliveredMs,
    relayedEvents: metric(survivorMetrics, 'chat_bus_outbox_relayed_total'),
  });
  expect(metric(survivorMetrics, 'chat_bus_outbox_relayed_total', { kind: 'event' })).toBeGreaterThanOrEqual(1);
  // The bound: a relay pass every RELAY_AFTER_MS / 2 publishes rows older than RELAY_AFTER_MS.
  expect(deliveredMs).toBeLessThan(RELAY_AFTER_MS * 1.5 + 1000);
  await stopInstance(survivor);
}, 90_000);

it('the relay killed: another instance relays what waits in the outbox', async () => {
  const [killer, relay, survivor] = await Promise.all([
    natsInstance('kr-a', { CHAT_TEST_KILL_AFTER_COMMIT: 'true' }),
    natsInstance('kr-b'),
    natsInstance('kr-c'),
  ]);
  const { deliveredMs, report, survivorMetrics } = await killBetweenCommitAndPublish(killer, survivor, relay, 'kr', relay);
  printSummary({
    scenario: 'writer and one of two relays SIGKILLed while the event waits in the outbox (BUS=nats)',
    relayAfterMs: RELAY_AFTER_MS,
    acked: report.acked,
    lost: report.lost,
    duplicated: report.duplicated,
    deliveredAfterKillMs: deliveredMs,
  });
  expect(metric(survivorMetrics, 'chat_bus_outbox_relayed_total', { kind: 'event' })).toBeGreaterThanOrEqual(1);
  expect(deliveredMs).toBeLessThan(RELAY_AFTER_MS * 1.5 + 1000);
  await stopInstance(survivor);
}, 90_000);
