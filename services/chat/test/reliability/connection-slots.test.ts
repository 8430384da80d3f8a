/**
 * Issue 10 finding 7: 60 concurrent upgrades of one user opened 40 sockets against a limit
 * of 20, because the count was checked before the upgrade and a socket registered only
 * after it. A slot is now reserved when the upgrade is admitted, and given back when the
 * upgrade does not complete (refused by ws, a plain GET, a client that went away).
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { printSummary } from './support/checker.ts';
import { readMetric } from './support/metrics.ts';
import { mintV4 } from '@chat/test-support/tokens';
import { users } from './support/setup.ts';

let db: TestDatabase;
let twenty: Instance;
let two: Instance;
let tokens: Record<string, string>;
const sockets: WebSocket[] = [];
const summary: Record<string, unknown> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  [twenty, two] = await Promise.all([
    startInstance(db.url, { maxConnectionsPerUser: 20 }),
    startInstance(db.url, { maxConnectionsPerUser: 2 }),
  ]);
  tokens = await users(twenty, ['aborts']);
  // Not seen by the service yet: its 60 upgrades wait on one user upsert batch and resume together.
  tokens.crowd = await mintV4({ sub: 'crowd', name: 'crowd' });
});

afterAll(async () => {
  for (const socket of sockets) socket.terminate();
  await Promise.all([twenty?.close(), two?.close()]);
  await db?.drop();
  printSummary({ scenario: 'connection slots', ...summary });
});

/** Inserts a user row in a transaction left open (so an upsert of that id waits) until the returned commit. */
async function holdUserRow(id: string): Promise<() => Promise<void>> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let inserted!: () => void;
  const isInserted = new Promise<void>((resolve) => (inserted = resolve));
  const transaction = db.sql.begin(async (tx) => {
    await tx`insert into users (id, name) values (${id}, ${id})`;
    inserted();
    await released;
  });
  await Promise.race([isInserted, transaction]);
  return async () => {
    release();
    await transaction;
  };
}

type Attempt = { opened: true; socket: WebSocket } | { opened: false; status: number; body: any };

/** One upgrade: the open socket, or the refusal's status and JSON body. */
function attempt(url: string, token: string): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    socket.once('open', () => {
      sockets.push(socket);
      resolve({ opened: true, socket });
    });
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        resolve({ opened: false, status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') });
        socket.terminate();
      });
    });
    socket.once('error', reject);
  });
}

const openCount = (instance: Instance, userId: string) => instance.chat.gateway.registry.ofUser(userId).size;

describe('connections per user under concurrency', () => {
  it('60 concurrent upgrades of one user open exactly 20 sockets; the other 40 get 429 TOO_MANY_CONNECTIONS, counted', async () => {
    const before = await readMetric(twenty.http, 'chat_ws_rejected_upgrades_total', { code: 'TOO_MANY_CONNECTIONS' });
    // Line the upgrades up: the service's first upsert of this new user waits on a row this test
    // inserted and has not committed, so every upgrade waits in authentication and they are
    // admitted together when it commits (as a burst of new users' upgrades would be).
    const commit = await holdUserRow('crowd');
    let upgrades = 0;
    const countUpgrade = () => upgrades++;
    twenty.chat.app.server.on('upgrade', countUpgrade);
    const attempts = Promise.all(Array.from({ length: 60 }, () => attempt(twenty.ws, tokens.crowd!)));
    try {
      await eventually(() => upgrades === 60, 'all 60 upgrade requests received');
      await eventually(async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from pg_locks where not granted`)[0]!.n > 0, 'the upsert waiting');
    } finally {
      twenty.chat.app.server.off('upgrade', countUpgrade);
      await commit();
    }
    const results = await attempts;
    const opened = results.filter((r) => r.opened);
    const refused = results.filter((r): r is Extract<Attempt, { opened: false }> => !r.opened);
    summary.concurrentUpgrades = { attempts: 60, opened: opened.length, refused: refused.length, limit: 20 };
    expect(opened).toHaveLength(20);
    expect(refused.map((r) => [r.status, r.body?.code])).toEqual(Array(40).fill([429, 'TOO_MANY_CONNECTIONS']));
    expect(openCount(twenty, 'crowd')).toBe(20);
    expect(await readMetric(twenty.http, 'chat_ws_rejected_upgrades_total', { code: 'TOO_MANY_CONNECTIONS' })).toBe(before + 40);

    // Closing gives the slots back: the next 20 open, the 21st does not.
    for (const r of opened) if (r.opened) r.socket.close();
    await eventually(() => openCount(twenty, 'crowd') === 0, 'the sockets closed on the server');
    const again = await Promise.all(Array.from({ length: 21 }, () => attempt(twenty.ws, tokens.crowd!)));
    expect(again.filter((r) => r.opened)).toHaveLength(20);
    for (const r of again) if (r.opened) r.socket.close();
  });
});

/** A raw HTTP request to /ws; resolves with the status once the server answers or drops it. */
function rawUpgrade(instance: Instance, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(instance.http);
    const request = httpRequest({ host: url.hostname, port: url.port, path: '/ws', method: 'GET', headers });
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
      request.destroy();
    });
    request.on('upgrade', (response, socket) => {
      socket.destroy();
      reject(new Error(`unexpected upgrade (${response.statusCode})`));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('a slot is given back when the upgrade does not complete', () => {
  it('upgrades refused by the WebSocket handshake after admission, and plain GETs, do not use up the user\'s slots', async () => {
    const auth = { authorization: `Bearer ${tokens.aborts!}` };
    // Admitted (authenticated, under the limit), then refused by ws: the key is not base64 of 16 bytes.
    const badKey = { ...auth, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'not-a-key' };
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push(await rawUpgrade(two, badKey));
    // A plain GET (no upgrade headers) is admitted too, and answered 426.
    for (let i = 0; i < 3; i++) statuses.push(await rawUpgrade(two, auth));
    expect(statuses).toEqual([400, 400, 400, 400, 400, 426, 426, 426]);
    await eventually(() => openCount(two, 'aborts') === 0, 'no slot held');
    const results = await Promise.all([attempt(two.ws, tokens.aborts!), attempt(two.ws, tokens.aborts!)]);
    expect(results.map((r) => r.opened)).toEqual([true, true]);
    const third = await attempt(two.ws, tokens.aborts!);
    expect(third).toMatchObject({ opened: false, status: 429, body: { code: 'TOO_MANY_CONNECTIONS' } });
  });
});
