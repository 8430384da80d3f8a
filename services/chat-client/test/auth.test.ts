/** Session expiry: 4401 gets one retry with a fresh token from getToken, then the client stops with lastError. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChatClient } from '../src/index.ts';
import { clientFor, connected, eventually, mint, record, startService, type Service } from './support/service.ts';

let service: Service;
const clients: ChatClient[] = [];
const open = (...args: Parameters<typeof clientFor>) => {
  const client = clientFor(...args);
  clients.push(client);
  return client;
};
const serverSockets = (userId: string) => [...service.instance.chat.gateway.registry.ofUser(userId)];

beforeAll(async () => {
  // No clock tolerance: a token's exp ends its socket right on time.
  service = await startService({ clockToleranceSec: 0 });
});

afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

afterAll(async () => {
  await service?.close();
});

describe('authentication', () => {
  it('ends in closed with lastError for an expired token, after asking getToken once more', async () => {
    const expired = await mint('alice', -60);
    let calls = 0;
    const client = open(service.instance, () => {
      calls++;
      return expired;
    });
    const log = record(client);
    client.connect();
    const closed = await eventually(() => (client.state.status === 'closed' ? client.state : null));
    // A refused upgrade reads as 1006 in a browser: the HTTP API told the client why.
    expect(closed.lastError).toMatchObject({ code: 'SESSION_EXPIRED' });
    expect(closed.nextAttemptAt).toBeNull();
    // Two socket attempts (the first, then one with a freshly fetched token), each diagnosed over HTTP.
    expect(calls).toBe(4);
    expect(log.statuses()).toEqual(['idle', 'connecting', 'reconnecting', 'closed']);
    expect(log.illegalTransitions()).toEqual([]);
  });

  it('stops on close code 4401 when the session expires and getToken has nothing newer', async () => {
    const short = await mint('alice', 2);
    const client = open(service.instance, () => short);
    const log = record(client);
    client.connect();
    await connected(client);
    const closed = await eventually(() => (client.state.status === 'closed' ? client.state : null), 'closed', 15_000);
    expect(closed.lastError?.code).toBe('SESSION_EXPIRED');
    expect(log.statuses()).toEqual(['idle', 'connecting', 'connected', 'reconnecting', 'closed']);
    // The server's 4401 close came first (its reason names SESSION_EXPIRED), then the one retry failed.
    expect(log.states.find((s) => s.status === 'reconnecting')?.lastError?.code).toBe('SESSION_EXPIRED');
    // connect() starts again (here with the same, still expired token: closed again).
    client.connect();
    await eventually(() => client.state.status === 'closed' && client.state.lastError?.code === 'SESSION_EXPIRED' && client.state.attempt === 0);
  });

  it('reconnects after 4401 when getToken returns a refreshed token', async () => {
    const short = await mint('bob', 2);
    const fresh = await mint('bob', 3600);
    let calls = 0;
    let token = short;
    const client = open(service.instance, () => {
      calls++;
      return token;
    });
    const log = record(client);
    client.connect();
    await connected(client);
    // Connect and the session refresher have both asked for a token; the storefront refreshes only now.
    await eventually(() => calls >= 2);
    token = fresh;
    await eventually(() => log.statuses().join() === 'idle,connecting,connected,reconnecting,connected', 'reconnect with the new token', 15_000);
    expect(log.states.find((s) => s.status === 'reconnecting')?.lastError?.code).toBe('SESSION_EXPIRED');
    expect(client.state.lastError).toBeNull();
  });

  it('refreshes the session on an open socket (auth.refresh) before it expires', async () => {
    const short = await mint('carol', 3);
    const fresh = await mint('carol', 3600);
    let token = short;
    const client = open(service.instance, () => {
      const current = token;
      token = fresh; // the storefront has a newer token from the second call on
      return current;
    });
    client.connect();
    await connected(client);
    const connection = await eventually(() => serverSockets('carol')[0]);
    // The server moved this socket's deadline (and its 4401 timer) from ~3 s to ~1 h away.
    await eventually(() => connection.identity.expiresAt! > Date.now() / 1000 + 600, 'server accepted auth.refresh');
    expect(client.state.status).toBe('connected');
    expect(connection.closed).toBe(false);
  });
});
