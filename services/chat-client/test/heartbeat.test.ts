/**
 * Liveness: a server that goes silent (no frames, no acks) is detected by the client's own
 * `ping` request after 2 × heartbeatMs of silence, and the client reconnects. The real
 * service always answers, so this one test uses a minimal stand-in that stops talking.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, WebSocket as WS } from 'ws';
import { ChatClient, MemoryStorage } from '../src/index.ts';
import { eventually } from './support/service.ts';

let server: WebSocketServer;
let url: string;
const received: { connection: number; type: string }[] = [];
let connections = 0;

beforeAll(async () => {
  server = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false) });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  url = `ws://127.0.0.1:${(server.address() as { port: number }).port}/ws`;
  server.on('connection', (socket) => {
    const connection = ++connections;
    socket.send(JSON.stringify({ type: 'ready', protocol: 1, connectionId: `c${connection}`, userId: 'alice', heartbeatMs: 100, sessionExpiresAt: null }));
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; id: string };
      received.push({ connection, type: frame.type });
      // Answer the resume, then go silent: pings are never acknowledged.
      if (frame.type === 'resume') socket.send(JSON.stringify({ type: 'ack', id: frame.id, result: { conversations: [], replayed: 0 } }));
    });
  });
});

afterAll(async () => {
  for (const client of server.clients) client.terminate();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('heartbeat', () => {
  it('pings after two silent heartbeat intervals and reconnects when the ping times out', async () => {
    const client = new ChatClient({
      wsUrl: url,
      httpUrl: 'http://127.0.0.1:9', // not used: the socket always gets to ready
      getToken: () => 'token',
      WebSocket: WS,
      storage: new MemoryStorage(),
      requestTimeoutMs: 300,
      backoff: { baseMs: 20 },
    });
    const states: string[] = [];
    client.on('state', (s) => states.push(`${s.status}:${s.lastError?.code ?? ''}`));
    client.connect();
    await eventually(() => received.some((f) => f.connection === 1 && f.type === 'ping'), 'client ping');
    await eventually(() => connections >= 2 && client.state.status === 'connected', 'reconnected');
    expect(states).toContain('reconnecting:TIMEOUT');
    // `connected` comes with the server's ready frame; the resume the client sends back may still be in flight.
    const first = await eventually(() => received.find((f) => f.connection === 2), 'first frame on the new connection');
    expect(first.type).toBe('resume');
    client.disconnect();
  });
});
