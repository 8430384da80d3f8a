/**
 * Fallback: the ws URL points at a port where nothing speaks WebSocket (connections are
 * dropped) while the HTTP API works. After three failed attempts the client polls
 * /v1/conversations/:id/events and sends over HTTP; when the socket works again it switches back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatClient } from '../src/index.ts';
import { startGate, type Gate } from './support/gate.ts';
import { clientFor, connected, eventually, mint, record, rowsWithClientMsgId, startService, type Service } from './support/service.ts';

let service: Service;
let gate: Gate;
let aliceToken: string;
let bobToken: string;
let conversationId: string;
const clients: ChatClient[] = [];

beforeAll(async () => {
  service = await startService();
  gate = await startGate(service.instance.http, false);
  [aliceToken, bobToken] = await Promise.all([mint('alice'), mint('bob')]);
  const bob = clientFor(service.instance, bobToken);
  await bob.http.me();
  conversationId = (await clientFor(service.instance, aliceToken).http.createGroup({ title: 'polling', memberIds: ['bob'] })).id;
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await gate?.close();
  await service?.close();
});

describe('polling fallback', () => {
  it('polls over HTTP when the socket cannot be established, and switches back when it can', async () => {
    const alice = clientFor(service.instance, aliceToken, {
      wsUrl: gate.url,
      backoff: { baseMs: 50 },
      pollIntervalMs: 300,
      socketRetryMs: 500,
    });
    const bob = clientFor(service.instance, bobToken);
    clients.push(alice, bob);
    const aliceLog = record(alice);
    const bobLog = record(bob);
    bob.connect();
    await connected(bob);
    await eventually(() => bobLog.conversations.length > 0);

    alice.connect();
    await connected(alice, 'polling');
    expect(gate.attempts).toBeGreaterThanOrEqual(3);
    const failures = aliceLog.states.filter((s) => s.status === 'reconnecting' && s.transport === 'websocket' && s.nextAttemptAt !== null);
    expect(failures.length).toBeGreaterThanOrEqual(2); // attempts 1 and 2 backed off; the 3rd switched
    expect(aliceLog.states.find((s) => s.transport === 'polling')?.lastError?.code).toBe('DISCONNECTED');
    // The conversation list told the poller what to read.
    await eventually(() => aliceLog.conversations.some((c) => c.added.includes(conversationId)));

    // Incoming: bob's message reaches alice through GET …/events.
    const fromBob = await bob.send({ conversationId, body: 'can you hear me?' }).done;
    const polled = await eventually(() => aliceLog.messages(conversationId).find((m) => m.id === fromBob.message.id), 'polled message');
    expect(polled.body).toBe('can you hear me?');

    // Outgoing: alice's send goes through POST …/messages.
    const { clientMsgId, done } = alice.send({ conversationId, body: 'over http' });
    const sent = await done;
    expect(sent.message.clientMsgId).toBe(clientMsgId);
    expect(alice.state.transport).toBe('polling');
    await eventually(() => bobLog.messages(conversationId).some((m) => m.clientMsgId === clientMsgId));
    expect(await rowsWithClientMsgId(service.db, clientMsgId)).toBe(1);
    // Requests that need a socket fall back to HTTP too.
    await alice.markRead(conversationId, sent.message.seq);

    // The socket works again: the next retry switches back.
    gate.open = true;
    await connected(alice, 'websocket');
    const again = await bob.send({ conversationId, body: 'live again' }).done;
    await eventually(() => aliceLog.messages(conversationId).some((m) => m.id === again.message.id), 'live message');
    const viaWs = await alice.send({ conversationId, body: 'socket send' }).done;
    expect(viaWs.duplicate).toBe(false);

    // Nothing was applied twice across the two transports.
    const seqs = aliceLog.events.filter((e) => e.conversationId === conversationId).map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(aliceLog.illegalTransitions()).toEqual([]);
  });
});
