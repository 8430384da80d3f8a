/** Reconnects after the server drops the socket, without losing or doubling a message; the outbox outlives a client. */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryStorage, type ChatClient } from '../src/index.ts';
import { clientFor, connected, eventually, mint, record, rowsWithClientMsgId, startService, type Service } from './support/service.ts';

let service: Service;
let aliceToken: string;
let bobToken: string;
let conversationId: string;
const clients: ChatClient[] = [];
const open = (...args: Parameters<typeof clientFor>) => {
  const client = clientFor(...args);
  clients.push(client);
  return client;
};
const serverSockets = (userId: string) => [...service.instance.chat.gateway.registry.ofUser(userId)];

beforeAll(async () => {
  service = await startService();
  [aliceToken, bobToken] = await Promise.all([mint('alice'), mint('bob')]);
  await open(service.instance, bobToken).http.me();
  conversationId = (await open(service.instance, aliceToken).http.createGroup({ title: 'reconnect', memberIds: ['bob'] })).id;
});

afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
  vi.unstubAllGlobals();
});

afterAll(async () => {
  await service?.close();
});

describe('reconnect', () => {
  it('reconnects with backoff after the server closes the socket; a message sent meanwhile arrives exactly once', async () => {
    const alice = open(service.instance, aliceToken);
    const bob = open(service.instance, bobToken);
    const aliceLog = record(alice);
    const bobLog = record(bob);
    alice.connect();
    bob.connect();
    await Promise.all([connected(alice), connected(bob)]);
    await eventually(() => aliceLog.conversations.length > 0 && bobLog.conversations.length > 0);

    for (const connection of serverSockets('alice')) connection.close('SHUTTING_DOWN');
    const reconnecting = await eventually(() => (alice.state.status === 'reconnecting' ? alice.state : null));
    expect(reconnecting.nextAttemptAt).not.toBeNull();
    expect(reconnecting.nextAttemptAt!).toBeLessThanOrEqual(Date.now() + 1000); // attempt 0: within [0, 1000] ms
    expect(reconnecting.lastError?.code).toBe('SHUTTING_DOWN');

    const { clientMsgId, done } = alice.send({ conversationId, body: 'sent while disconnected' });
    expect(alice.state.status).not.toBe('connected');
    expect(alice.state.queued).toBe(1);
    expect(alice.outbox()).toMatchObject([{ clientMsgId, status: 'pending' }]);

    const result = await done;
    expect(alice.state.status).toBe('connected');
    expect(alice.state.lastError).toBeNull();
    await eventually(() => bobLog.messages(conversationId).some((m) => m.clientMsgId === clientMsgId));
    expect(await rowsWithClientMsgId(service.db, clientMsgId)).toBe(1);
    expect(bobLog.messages(conversationId).filter((m) => m.clientMsgId === clientMsgId)).toHaveLength(1);
    expect(result.message.clientMsgId).toBe(clientMsgId);

    const statuses = aliceLog.statuses();
    expect(statuses.slice(statuses.indexOf('reconnecting'))).toEqual(['reconnecting', 'connected']);
    expect(aliceLog.states.some((s) => s.status === 'reconnecting' && s.nextAttemptAt !== null)).toBe(true);
    expect(aliceLog.illegalTransitions()).toEqual([]);
  });

  it('stores a send once even when the socket dies around it (ack lost or frame lost)', async () => {
    const alice = open(service.instance, aliceToken);
    const bob = open(service.instance, bobToken);
    const bobLog = record(bob);
    alice.connect();
    bob.connect();
    await Promise.all([connected(alice), connected(bob)]);
    await eventually(() => alice.outbox().length === 0 && bob.state.attempt === 0);

    const ids: string[] = [];
    for (let round = 0; round < 3; round++) {
      await connected(alice);
      await eventually(() => alice.state.queued === 0);
      // The frame leaves the client, then the server drops the socket without a word.
      const { clientMsgId } = alice.send({ conversationId, body: `race ${round}` });
      ids.push(clientMsgId);
      for (const connection of serverSockets('alice')) connection.socket.terminate();
    }
    await eventually(() => alice.state.status === 'connected' && alice.state.queued === 0, 'outbox drained', 20_000);
    for (const id of ids) {
      expect(await rowsWithClientMsgId(service.db, id)).toBe(1);
      await eventually(() => bobLog.messages(conversationId).some((m) => m.clientMsgId === id));
      expect(bobLog.messages(conversationId).filter((m) => m.clientMsgId === id)).toHaveLength(1);
    }
  });

  it('keeps the outbox in storage: a new client instance sends what an old one queued', async () => {
    const storage = new MemoryStorage();
    const bob = open(service.instance, bobToken);
    bob.track(conversationId, (await bob.http.conversation(conversationId)).lastSeq);
    // Never connected, user unknown: queued under the site's anonymous key.
    const first = open(service.instance, aliceToken, { storage });
    const early = first.send({ conversationId, body: 'queued before the user was known' });
    // Never connected, user given: takes over the anonymous items and queues under alice.
    const second = open(service.instance, aliceToken, { storage, userId: 'alice' });
    const late = second.send({ conversationId, body: 'queued by a second instance' });
    expect(second.outbox().map((i) => i.clientMsgId)).toEqual([early.clientMsgId, late.clientMsgId]);
    expect(second.state.queued).toBe(2);
    first.disconnect();
    second.disconnect();
    expect(await rowsWithClientMsgId(service.db, early.clientMsgId)).toBe(0);

    // A fresh instance (a reload) learns the user from `ready` and sends both, in order.
    const bobLog = record(bob);
    bob.connect();
    await connected(bob);
    const third = open(service.instance, aliceToken, { storage });
    const thirdLog = record(third);
    third.connect();
    await eventually(() => thirdLog.outbox.some((items) => items.length === 2), 'outbox loaded for alice');
    await eventually(() => third.outbox().length === 0 && third.state.queued === 0, 'outbox flushed');
    expect(await rowsWithClientMsgId(service.db, early.clientMsgId)).toBe(1);
    expect(await rowsWithClientMsgId(service.db, late.clientMsgId)).toBe(1);
    expect(storage.getItem(`chat.outbox.v1:${new URL(service.instance.http).host}:alice`)).toBeNull();
    const arrived = await eventually(() => {
      const mine = bobLog.messages(conversationId).filter((m) => m.clientMsgId === early.clientMsgId || m.clientMsgId === late.clientMsgId);
      return mine.length === 2 ? mine : null;
    });
    expect(arrived.map((m) => m.clientMsgId)).toEqual([early.clientMsgId, late.clientMsgId]);
    expect(arrived[0]!.seq).toBeLessThan(arrived[1]!.seq);
  });

  it('goes offline on the browser offline event and reconnects at once when online', async () => {
    const browser = new EventTarget();
    const navigator = { onLine: true };
    vi.stubGlobal('window', browser);
    vi.stubGlobal('navigator', navigator);
    const alice = open(service.instance, aliceToken, { onlineEvents: true });
    const log = record(alice);
    alice.connect();
    await connected(alice);

    navigator.onLine = false;
    browser.dispatchEvent(new Event('offline'));
    expect(alice.state).toMatchObject({ status: 'offline', nextAttemptAt: null });
    await eventually(() => serverSockets('alice').length === 0, 'server saw the socket close');
    const queued = alice.send({ conversationId, body: 'typed while offline' });
    expect(alice.state.queued).toBe(1);

    navigator.onLine = true;
    browser.dispatchEvent(new Event('online'));
    expect(alice.state.nextAttemptAt).toBeNull(); // no backoff wait after "online"
    await queued.done;
    expect(alice.state.status).toBe('connected');
    expect(log.statuses().slice(-3)).toEqual(['offline', 'reconnecting', 'connected']);

    // Starting while the browser is offline waits for "online".
    alice.disconnect();
    navigator.onLine = false;
    alice.connect();
    expect(alice.state.status).toBe('offline');
    navigator.onLine = true;
    browser.dispatchEvent(new Event('online'));
    await connected(alice);
    expect(log.illegalTransitions()).toEqual([]);
  });
});
