/**
 * infra/nginx/nginx.conf for real: Debian's nginx runs the rendered config in front of two
 * chat instances (buildApp, real PostgreSQL) and a stand-in storefront. Clients connect,
 * resume and send THROUGH nginx; one instance is stopped; its clients reconnect through
 * nginx, land on the other instance and resume with nothing missing and nothing twice.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { apply, emptyState, type ConversationState } from '@chat/test-support/state';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';
import { startNginx, type Nginx } from './support/processes.ts';

/** A client as an app would keep it: one socket at a time, its conversation state built from events. */
interface LiveClient {
  name: string;
  user: string;
  token: string;
  state: ConversationState;
  client: TestClient;
  /** Frames already applied to state from the current socket. */
  applied: number;
  connections: string[];
}

let db: TestDatabase;
let a: Instance;
let b: Instance;
let web: Server;
let nginx: Nginx;
const tokens: Record<string, string> = {};
let conversationId = '';
const clients: LiveClient[] = [];

async function viaNginx(method: string, path: string, token: string | null, body?: unknown) {
  const response = await fetch(`${nginx.http}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: response.status, text, body: json, headers: response.headers };
}

/** A raw request: the path goes out exactly as written (no client-side normalization). */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: nginx.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function instanceOf(connectionId: string): 'a' | 'b' | null {
  for (const [name, instance] of [['a', a], ['b', b]] as const) {
    for (const connection of instance.chat.gateway.registry.all()) if (connection.id === connectionId) return name;
  }
  return null;
}

/** Applies every new stream frame of the client's current socket to its state (throws on a gap or a duplicate). */
function sync(live: LiveClient): void {
  const frames = live.client.frames;
  for (; live.applied < frames.length; live.applied++) {
    const frame = frames[live.applied]!;
    if (frame.conversationId === conversationId) apply(live.state, frame);
  }
}

/** Connects through nginx and resumes from the client's last seq. */
async function connect(live: LiveClient): Promise<void> {
  const client = await TestClient.connect(nginx.ws, { token: live.token });
  const ready = client.frames.find((f) => f.type === 'ready')!;
  live.client = client;
  live.applied = 0;
  live.connections.push(ready.connectionId);
  const result = await client.request({ type: 'resume', conversations: { [conversationId]: live.state.lastSeq } });
  expect(result.conversations.map((c: { id: string }) => c.id)).toContain(conversationId);
  sync(live);
}

async function allReach(seq: number, group = clients): Promise<void> {
  await eventually(() => {
    for (const live of group) sync(live);
    return group.every((live) => live.state.lastSeq >= seq);
  }, `every client at seq ${seq}`);
  for (const live of group) expect(live.state.lastSeq).toBe(seq);
}

async function send(live: LiveClient, clientMsgId: string, body: string): Promise<number> {
  const result = await live.client.request({ type: 'message.send', conversationId, clientMsgId, body });
  return result.message.seq as number;
}

beforeAll(async () => {
  db = await createTestDatabase();
  a = await startInstance(db.url, { instanceId: 'nginx-a' });
  b = await startInstance(db.url, { instanceId: 'nginx-b' });
  web = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<html>storefront ${req.url}</html>`);
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  const hostOf = (url: string) => new URL(url).host;
  nginx = await startNginx({
    chatServers: [hostOf(a.http), hostOf(b.http)],
    webServers: [`127.0.0.1:${(web.address() as AddressInfo).port}`],
  });
  for (const user of ['alice', 'bob', 'carol']) {
    tokens[user] = await mintV4({ sub: user, name: user[0]!.toUpperCase() + user.slice(1) });
    // Mirrors the user from the token (through nginx).
    expect((await viaNginx('GET', '/v1/me', tokens[user]!)).status).toBe(200);
  }
  const created = await viaNginx('POST', '/v1/conversations', tokens.alice!, { title: 'Through nginx', memberIds: ['bob', 'carol'] });
  expect(created.status).toBe(201);
  conversationId = created.body.id;
});

afterAll(async () => {
  for (const live of clients) await live.client?.close().catch(() => {});
  await nginx?.stop();
  await new Promise((resolve) => web?.close(resolve));
  await a?.close();
  await b?.close();
  await db?.drop();
});

describe('nginx in front of two chat instances', () => {
  it('routes /v1 and /ws to the chat instances and / to the storefront', async () => {
    const me = await viaNginx('GET', '/v1/me', tokens.bob!);
    expect(me.status).toBe(200);
    expect(me.body.id).toBe('bob');
    const page = await viaNginx('GET', '/products/1', null);
    expect(page.status).toBe(200);
    expect(page.text).toContain('storefront /products/1');
    // A plain GET on /ws reaches the service: it authenticates first, then wants an upgrade.
    const anonymous = await viaNginx('GET', '/ws', null);
    expect([anonymous.status, anonymous.body?.code]).toEqual([401, 'UNAUTHENTICATED']);
    const plain = await viaNginx('GET', '/ws', tokens.bob!);
    expect([plain.status, plain.body?.code]).toEqual([426, 'UPGRADE_REQUIRED']);
  });

  it('does not expose /metrics publicly', async () => {
    for (const path of ['/metrics', '/metrics/', '/metrics?x=1', '/v1/../metrics', '/v1/%2e%2e/metrics', '/%6detrics', '//metrics']) {
      const response = await rawGet(path);
      expect(response.status, path).toBe(404);
      expect(response.body, path).not.toContain('chat_ws_connections');
      expect(response.body, path).not.toContain('# HELP');
    }
    // The instances themselves do serve it (for Prometheus on the private network).
    const direct = await fetch(`${a.http}/metrics`);
    expect(await direct.text()).toContain('chat_ws_connections');
  });

  it('keeps the Host port so same-origin cookie sockets pass the origin check', async () => {
    const client = await TestClient.connect(nginx.ws, {
      headers: { cookie: `next-auth.session-token=${tokens.carol}`, origin: nginx.http },
    });
    expect(client.frames[0]!.type).toBe('ready');
    await client.close();
    await expect(
      TestClient.connect(nginx.ws, { headers: { cookie: `next-auth.session-token=${tokens.carol}`, origin: 'https://evil.example' } }),
    ).rejects.toMatchObject({ status: 403 });
  });

  it('spreads sockets over both instances without stickiness; events cross instances', async () => {
    for (const [i, user] of ['alice', 'bob', 'carol', 'alice', 'bob', 'carol'].entries()) {
      const live: LiveClient = { name: `${user}#${i}`, user, token: tokens[user]!, state: emptyState(), client: null as unknown as TestClient, applied: 0, connections: [] };
      await connect(live);
      clients.push(live);
    }
    // Creation wrote 3 member.added events; every client replayed them from seq 0.
    await allReach(3);
    const where = clients.map((live) => instanceOf(live.connections[0]!));
    expect(where.filter((w) => w === 'a').length).toBeGreaterThan(0);
    expect(where.filter((w) => w === 'b').length).toBeGreaterThan(0);
    expect(where).not.toContain(null);

    // Every client sends once: each message reaches all six sockets, on both instances.
    let seq = 3;
    for (const [i, live] of clients.entries()) seq = Math.max(seq, await send(live, `before-${i}`, `hello from ${live.name}`));
    expect(seq).toBe(9);
    await allReach(9);
    for (const live of clients) expect(live.state.messages.size).toBe(6);
  });

  it('moves the clients of a stopped instance to the other one, which resumes them with nothing missing', async () => {
    const onA = clients.filter((live) => instanceOf(live.connections.at(-1)!) === 'a');
    const onB = clients.filter((live) => instanceOf(live.connections.at(-1)!) === 'b');
    expect(onA.length).toBeGreaterThan(0);
    expect(onB.length).toBeGreaterThan(0);

    await a.close();
    // nginx passes the close on to every socket of A; B's sockets stay.
    await eventually(() => onA.every((live) => live.client.closeCode !== null), 'A sockets closed');
    for (const live of onB) expect(live.client.closeCode).toBeNull();

    // While A's clients are away, the conversation moves on (written on B).
    for (let i = 0; i < 5; i++) await send(onB[i % onB.length]!, `during-${i}`, `while you were away ${i}`);
    await allReach(14, onB);

    // They reconnect through the same nginx address: the first attempt succeeds (nginx retries
    // the refused upstream on B), and the resume replays exactly seqs 10..14.
    for (const live of onA) {
      await connect(live);
      expect(instanceOf(live.connections.at(-1)!)).toBe('b');
    }
    await allReach(14);
    for (const live of clients) {
      expect(live.state.messages.size).toBe(11);
      const seqs = [...live.state.messages.values()].map((m) => m.seq).sort((x, y) => x - y);
      expect(seqs).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    }
    expect(b.chat.gateway.registry.size).toBeGreaterThanOrEqual(clients.length);

    // Live traffic continues for everyone, now all on B.
    const last = await send(onA[0]!, 'after-1', 'back again');
    expect(last).toBe(15);
    await allReach(15);

    // Plain HTTP through nginx keeps working with A gone, and history has every message.
    const history = await viaNginx('GET', `/v1/conversations/${conversationId}/messages?limit=50`, tokens.carol!);
    expect(history.status).toBe(200);
    const items: { seq: number }[] = history.body.messages;
    expect(items.map((m) => m.seq).sort((x: number, y: number) => x - y)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  });

  it('logged every socket with its upstream, including the retry from the stopped instance', async () => {
    // WebSocket requests are logged when they close.
    for (const live of clients) await live.client.close();
    const sockets = clients.reduce((n, live) => n + live.connections.length, 0);
    const addressA = new URL(a.http).host;
    const addressB = new URL(b.http).host;
    const lines = await eventually(async () => {
      const parsed = (await nginx.accessLog()).trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, any>);
      // The cookie socket of the origin test was one more.
      return parsed.filter((l) => l.uri === '/ws' && l.status === 101).length >= sockets + 1 ? parsed : null;
    }, 'access log of every socket');
    const upgrades = lines.filter((l) => l.uri === '/ws' && l.status === 101);
    const served = new Set(upgrades.flatMap((l) => String(l.upstream).split(', ')));
    expect(served).toEqual(new Set([addressA, addressB]));
    // A reconnect after A stopped: nginx tried A, was refused, and proxied the same upgrade to B.
    expect(upgrades.some((l) => l.upstream === `${addressA}, ${addressB}`)).toBe(true);
  });

  it('stops by its own PID', async () => {
    const pid = nginx.pid;
    await nginx.stop();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
