/**
 * Slow and half-open connections (issue 10, finding 4), over raw TCP sockets against real
 * child processes. An unauthenticated request is refused before its body is read and its
 * connection closed; every other kind of stalled connection (a body that never completes,
 * headers that never end, an idle keep-alive, a socket that says nothing at all, an
 * upgraded socket that never answers a ping) is closed by a configured timeout; and a
 * SIGTERM with all of them open still drains and exits 0 in time.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';
import { spawnInstance, stopAllInstances, type ChildInstance } from './support/child.ts';
import { call } from './support/setup.ts';

const HEADERS_MS = 1000;
const REQUEST_MS = 2000;
const KEEP_ALIVE_MS = 1000;
const IDLE_MS = 1500;
const HEARTBEAT_MS = 300;
/** Timers fire on a checking interval and the machine may be busy with other test files. */
const SLACK_MS = 2000;
const DRAIN_MS = 1000;

let db: TestDatabase;
/** Short timeouts, to watch each one fire. */
let timeouts: ChildInstance;
let token: string;
let room: string;
const opened: Socket[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  timeouts = await spawnInstance('slow-timeouts', db.url, {
    HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
    HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_MS),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS),
    HTTP_IDLE_TIMEOUT_MS: String(IDLE_MS),
    HEARTBEAT_MS: String(HEARTBEAT_MS),
  });
  token = await mintV4({ sub: 'slow-alice', name: 'Alice' });
  const created = await call(timeouts, token, 'POST', '/v1/conversations', { title: 'slow', memberIds: [] });
  expect(created.status).toBe(201);
  room = created.body.id as string;
});

afterAll(async () => {
  for (const socket of opened) socket.destroy();
  await stopAllInstances();
  await db?.drop();
});

interface Raw {
  socket: Socket;
  /** Everything the server sent. */
  received(): string;
  /** When the server closed the connection. */
  closed: Promise<number>;
  isClosed(): boolean;
}

async function open(instance: ChildInstance, first = ''): Promise<Raw> {
  const socket = connect(instance.port, '127.0.0.1');
  opened.push(socket);
  socket.on('error', () => {}); // a reset after the server gave up is expected
  let text = '';
  let done = false;
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      done = true;
      resolve(Date.now());
    }),
  );
  await once(socket, 'connect');
  if (first) socket.write(first);
  return { socket, received: () => text, closed, isClosed: () => done };
}

/** A POST that announces 200000 bytes of body and sends only the start of it. */
function partialPost(path: string, headers: Record<string, string> = {}, contentType = 'application/json'): string {
  const lines = [`POST ${path} HTTP/1.1`, 'Host: chat.test', `Content-Type: ${contentType}`, 'Content-Length: 200000'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n{"title":"never finished`;
}

async function closedWithin(raw: Raw, startedAt: number, limitMs: number, what: string): Promise<number> {
  const at = await Promise.race([raw.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), limitMs + 500))]);
  if (at === null) throw new Error(`${what}: still open after ${limitMs} ms; received ${JSON.stringify(raw.received().slice(0, 200))}`);
  expect(at - startedAt, what).toBeLessThan(limitMs);
  return at - startedAt;
}

describe('unauthenticated requests are refused before their body is read', () => {
  it('40 partial POSTs without credentials (and with a forged token) get 401 at once and are closed', async () => {
    const startedAt = Date.now();
    const targets = [
      ...Array.from({ length: 30 }, () => partialPost('/v1/conversations')),
      ...Array.from({ length: 5 }, () => partialPost('/v1/conversations', { authorization: 'Bearer not-a-token' })),
      ...Array.from({ length: 5 }, () => partialPost(`/v1/conversations/${room}/attachments?filename=a.txt`, {}, 'text/plain')),
    ];
    const sockets = await Promise.all(targets.map((request) => open(timeouts, request)));
    // Well before the request timeout: nothing waited for the body.
    await Promise.all(sockets.map((raw, i) => closedWithin(raw, startedAt, REQUEST_MS - 500, `socket ${i}`)));
    for (const raw of sockets) {
      expect(raw.received()).toMatch(/^HTTP\/1\.1 401 /);
      expect(raw.received()).toContain('"code":"UNAUTHENTICATED"');
      expect(raw.received().toLowerCase()).toContain('connection: close');
    }
  });
});

describe('every server timeout is set', () => {
  it('an authenticated body that never completes: cut at the request timeout', async () => {
    const startedAt = Date.now();
    const raw = await open(timeouts, partialPost('/v1/conversations', { authorization: `Bearer ${token}` }));
    // Trickle a byte now and then, so that only the whole-request timeout can end it.
    const trickle = setInterval(() => raw.isClosed() || raw.socket.write('x'), 200);
    try {
      await closedWithin(raw, startedAt, REQUEST_MS + SLACK_MS, 'trickled body');
    } finally {
      clearInterval(trickle);
    }
    expect(raw.received()).not.toMatch(/^HTTP\/1\.1 2/);
  });

  it('headers that never end: cut at the headers timeout', async () => {
    const startedAt = Date.now();
    const raw = await open(timeouts, `POST /v1/conversations HTTP/1.1\r\nHost: chat.test\r\nAuthorization: Bearer ${token}\r\n`);
    const trickle = setInterval(() => raw.isClosed() || raw.socket.write('X-Slow: 1\r\n'), 200);
    try {
      await closedWithin(raw, startedAt, HEADERS_MS + SLACK_MS, 'unfinished headers');
    } finally {
      clearInterval(trickle);
    }
  });

  it('a connection that sends nothing: cut at the headers or idle timeout', async () => {
    const startedAt = Date.now();
    const raw = await open(timeouts);
    await closedWithin(raw, startedAt, Math.max(HEADERS_MS, IDLE_MS) + SLACK_MS, 'silent connection');
  });

  it('an idle keep-alive connection: cut at the keep-alive timeout', async () => {
    const raw = await open(timeouts, 'GET /healthz HTTP/1.1\r\nHost: chat.test\r\n\r\n');
    await eventually(() => raw.received().includes('"status":"ok"'), 'the health answer');
    const answeredAt = Date.now();
    expect(raw.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.received().toLowerCase()).toContain('keep-alive');
    await closedWithin(raw, answeredAt, KEEP_ALIVE_MS + SLACK_MS, 'idle keep-alive');
  });

  it('an upgraded socket that never answers a ping: closed by the heartbeat', async () => {
    const key = Buffer.from('0123456789abcdef').toString('base64');
    const raw = await open(
      timeouts,
      [
        'GET /ws HTTP/1.1',
        'Host: chat.test',
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Key: ${key}`,
        `Authorization: Bearer ${token}`,
        '',
        '',
      ].join('\r\n'),
    );
    await eventually(() => raw.received().startsWith('HTTP/1.1 101 '), 'the upgrade');
    const upgradedAt = Date.now();
    // Two missed heartbeats, then at most 2 s for the close handshake.
    await closedWithin(raw, upgradedAt, 3 * HEARTBEAT_MS + 2000 + SLACK_MS, 'silent upgraded socket');
  });
});

describe('graceful stop', () => {
  it('SIGTERM with half-open connections of every kind: drains and exits 0 in time', async () => {
    // Default (long) timeouts: the drain itself must end these connections.
    const instance = await spawnInstance('slow-drain', db.url, { DRAIN_MS: String(DRAIN_MS) });
    const auth = { authorization: `Bearer ${token}` };
    const half: Raw[] = [];
    for (let i = 0; i < 5; i++) {
      half.push(await open(instance, partialPost('/v1/conversations', auth)));
      half.push(await open(instance, `POST /v1/conversations HTTP/1.1\r\nHost: chat.test\r\n`));
      half.push(await open(instance));
      half.push(await open(instance, 'GET /healthz HTTP/1.1\r\nHost: chat.test\r\n\r\n'));
    }
    const refused = await Promise.all(Array.from({ length: 5 }, () => open(instance, partialPost('/v1/conversations'))));
    const client = await TestClient.connect(instance.ws, { token });
    await client.request({ type: 'resume', conversations: {} });
    // Every half-open connection has reached the server (the keep-alive ones got their answer).
    await eventually(() => half.filter((_, i) => i % 4 === 3).every((raw) => raw.received().includes('"status":"ok"')), 'health answers');

    const sigtermAt = Date.now();
    instance.signal('SIGTERM');
    const exit = await instance.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - sigtermAt).toBeLessThan(DRAIN_MS + SLACK_MS);
    await eventually(() => client.closeCode !== null, 'the client closed');
    expect(client.closeCode).toBe(1012);
    for (const raw of [...half, ...refused]) await raw.closed;
  });
});
