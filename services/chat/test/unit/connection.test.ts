/**
 * Connection: the one delivery rule. Over a real WebSocket pair: events only for a
 * subscribed conversation, each seq once, the backlog held during a catch-up and replayed
 * through the same rule, a removal ending the subscription (and leaving the room), room
 * signals only to confirmed subscriptions, and a bounded backlog.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { createMetrics } from '../../src/metrics.ts';
import { Connection } from '../../src/ws/connection.ts';
import type { Delivery, Subscriber } from '../../src/ws/rooms.ts';

const C = '00000000-0000-4000-8000-00000000000c';
const D = '00000000-0000-4000-8000-00000000000d';
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((f) => f()));

async function pair() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const [socket] = (await once(server, 'connection')) as [WebSocket];
  const received: any[] = [];
  client.on('message', (data) => received.push(JSON.parse(data.toString())));
  await once(client, 'open');
  const left: string[] = [];
  const connection = new Connection('c1', { userId: 'u', name: null, image: null, systemRole: null, expiresAt: Math.floor(Date.now() / 1000) + 3600 }, socket, pino({ level: 'silent' }), createMetrics('t'), 1 << 20, {
    leave: (id: string, _s: Subscriber) => left.push(id),
  });
  cleanups.push(() => {
    client.terminate();
    server.close();
  });
  /** Resolves with everything received once at least `n` frames have arrived. */
  const arrived = async (n: number) => {
    while (received.length < n) await once(client, 'message');
    return received;
  };
  /**
   * Everything the connection sent before now: a marker written after it arrives last on the
   * same socket (one ordered stream), so no earlier frame can still be on its way.
   */
  const drained = async () => {
    connection.sendRaw('{"marker":true}');
    while (!received.at(-1)?.marker) await once(client, 'message');
    return received.slice(0, -1);
  };
  return { connection, received, arrived, drained, left, client };
}

const event = (seq: number, access: Delivery['access'] = null): Delivery => ({ seq, data: JSON.stringify({ seq }), access });

describe('Connection delivery rule', () => {
  it('sends only for subscribed conversations, each seq once and in order', async () => {
    const { connection, drained } = await pair();
    connection.deliver(C, event(1)); // not subscribed: dropped
    connection.lastSent.set(C, 1);
    for (const seq of [1, 2, 2, 3, 1]) connection.deliver(C, event(seq));
    expect((await drained()).map((f) => f.seq)).toEqual([2, 3]);
  });

  it('holds live events during a catch-up and passes them through the same rule after the replay', async () => {
    const { connection, arrived } = await pair();
    connection.startCatchUp();
    connection.deliver(C, event(3));
    connection.deliver(C, event(4));
    connection.lastSent.set(C, 0);
    connection.replay(C, [1, 2, 3].map((seq) => ({ seq, frame: JSON.stringify({ seq }), access: null })));
    connection.endCatchUp();
    expect((await arrived(4)).map((f) => f.seq)).toEqual([1, 2, 3, 4]);
  });

  it('ends the subscription with the user’s own removal (or a deletion), and nothing after it reaches the socket', async () => {
    const { connection, drained, left } = await pair();
    connection.lastSent.set(C, 0);
    connection.lastSent.set(D, 0);
    connection.deliver(C, event(1, { kind: 'removed', userId: 'someone else' }));
    connection.deliver(C, event(2, { kind: 'removed', userId: 'u' }));
    connection.deliver(C, event(3));
    connection.signal(C, '{"type":"typing"}');
    connection.deliver(D, event(1, { kind: 'closed' }));
    connection.deliver(D, event(2));
    expect((await drained()).map((f) => f.seq)).toEqual([1, 2, 1]);
    expect([...connection.lastSent.keys()]).toEqual([]);
    expect(left).toEqual([C, D]);
  });

  it('a removal met in a replay ends the subscription there too', async () => {
    const { connection, drained, left } = await pair();
    connection.lastSent.set(C, 0);
    connection.replay(C, [
      { seq: 1, frame: '{"seq":1}', access: null },
      { seq: 2, frame: '{"seq":2}', access: { kind: 'removed', userId: 'u' } },
      { seq: 3, frame: '{"seq":3}', access: null },
    ]);
    expect((await drained()).map((f) => f.seq)).toEqual([1, 2]);
    expect(left).toEqual([C]);
  });

  it('room signals reach only a confirmed subscription', async () => {
    const { connection, drained } = await pair();
    connection.signal(C, '{"n":1}');
    connection.lastSent.set(C, 0);
    connection.signal(C, '{"n":2}');
    expect((await drained()).map((f) => f.n)).toEqual([2]);
  });

  it('cuts off a socket whose catch-up backlog overflows (4008), instead of growing', async () => {
    const { connection, client } = await pair();
    connection.startCatchUp();
    const closed = once(client, 'close');
    for (let seq = 1; seq <= 10_001; seq++) connection.deliver(C, event(seq));
    const [code] = (await closed) as [number];
    expect(code).toBe(4008);
  });
});
