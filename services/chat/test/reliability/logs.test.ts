/**
 * Security 8: the logs never hold a message body or a session token. The instance is a real
 * child process at LOG_LEVEL=info, so what is checked is exactly what the production logger
 * (createLogger in app.ts, pino to stdout) writes. The test sends distinctive bodies and
 * uses every credential channel (Authorization header, bearer.<token> subprotocol, ?token=
 * query on the socket and on HTTP, session cookie, auth.refresh), plus failing requests
 * that carry both (bad frames, over-long bodies, a tampered token).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@chat/test-support/harness';
import { mintV4, mintV5 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';
import { printSummary } from './support/checker.ts';
import { spawnInstance, stopAllInstances, stopInstance, type ChildInstance } from './support/child.ts';
import { call } from './support/setup.ts';

let db: TestDatabase;
let instance: ChildInstance;

beforeAll(async () => {
  db = await createTestDatabase();
  instance = await spawnInstance('logs', db.url, { LOG_LEVEL: 'info' });
});

afterAll(async () => {
  await stopAllInstances();
  await db?.drop();
});

it('no message body and no token string appears in the info logs', async () => {
  const marker = () => `zebra-quartz-${randomUUID()}`;
  const bodies: string[] = [];
  const body = () => {
    const b = marker();
    bodies.push(b);
    return b;
  };
  const alice = await mintV4({ sub: 'alice', name: 'Alice' });
  const aliceV5 = await mintV5({ sub: 'alice', name: 'Alice' });
  const bob = await mintV4({ sub: 'bob', name: 'Bob' });
  const refresh = await mintV4({ sub: 'alice', name: 'Alice' }, { maxAge: 7200 });
  const tampered = `${alice.slice(0, -6)}AAAAAA`;
  const secrets = [alice, aliceV5, bob, refresh, tampered];

  expect((await call(instance, bob, 'GET', '/v1/me')).status).toBe(200);
  const created = await call(instance, alice, 'POST', '/v1/conversations', { title: 'logged', memberIds: ['bob'] });
  expect(created.status).toBe(201);
  const room = created.body.id as string;
  const viaHttp = await call(instance, alice, 'POST', `/v1/conversations/${room}/messages`, { clientMsgId: 'log-http', body: body() });
  expect(viaHttp.status).toBe(201);

  const sockets = [
    await TestClient.connect(instance.ws, { token: alice }),
    await TestClient.connect(instance.ws, { protocols: ['chat.v1', `bearer.${aliceV5}`] }),
    await TestClient.connect(`${instance.ws}?token=${encodeURIComponent(bob)}`),
    await TestClient.connect(instance.ws, { headers: { cookie: `next-auth.session-token=${alice}` } }),
  ];
  const [ws, sub, query, cookie] = sockets as [TestClient, TestClient, TestClient, TestClient];
  for (const client of sockets) await client.request({ type: 'resume', conversations: {} });
  const sent = await ws.request({ type: 'message.send', conversationId: room, clientMsgId: 'log-ws', body: body() });
  await sub.request({ type: 'message.send', conversationId: room, clientMsgId: 'log-sub', body: body() });
  await query.request({ type: 'message.send', conversationId: room, clientMsgId: 'log-query', body: body() });
  await cookie.request({ type: 'message.edit', conversationId: room, messageId: sent.message.id, body: body() });
  await ws.request({ type: 'auth.refresh', token: refresh });
  // Failing requests that carry a body or a token.
  // Settled together: each rejection is observed at once, never left unhandled while an earlier one is awaited.
  const failures = await Promise.allSettled([
    ws.request({ type: 'auth.refresh', token: tampered }),
    ws.request({ type: 'message.send', conversationId: room, clientMsgId: 'log-extra', body: body(), senderId: 'bob' }),
    ws.request({ type: 'message.send', conversationId: room, clientMsgId: 'log-long', body: `${body()}${'x'.repeat(4001)}` }),
    ws.request({ type: 'message.send', conversationId: randomUUID(), clientMsgId: 'log-forbidden', body: body() }),
  ]);
  expect(failures.map((f) => f.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
  ws.sendRaw(`{"type":"message.send","body":"${body()}","token":"${alice}"`);
  await ws.waitFor((f) => f.type === 'error' && f.id === null && f.code === 'INVALID_FRAME');
  expect((await call(instance, tampered, 'GET', '/v1/me')).status).toBe(401);
  const queryHttp = await fetch(`${instance.http}/v1/conversations/${room}/messages?token=${encodeURIComponent(bob)}`);
  expect(queryHttp.status).toBe(200);
  expect(
    (await call(instance, alice, 'POST', `/v1/conversations/${room}/messages`, { clientMsgId: 'log-http-bad', body: body(), extra: alice })).status,
  ).toBe(400);
  await Promise.all(sockets.map((s) => s.close()));

  // Graceful stop flushes the logger; then read everything the process wrote.
  await stopInstance(instance);
  const output = instance.output();
  const lines = output.split('\n').filter(Boolean);
  // The capture is real: request and connection logs are there at info level.
  expect(output).toContain('"msg":"incoming request"');
  expect(output).toContain('"msg":"request completed"');
  const leaks = [...new Set([
    ...secrets.flatMap((secret) => {
      // The whole token, or any 32-character piece of its ciphertext (a truncated token leaks too).
      const pieces = [secret, ...secret.split('.').filter((p) => p.length >= 32).map((p) => p.slice(0, 32))];
      return lines.filter((line) => pieces.some((piece) => line.includes(piece) || line.includes(encodeURIComponent(piece)))).map((line) => `token: ${line.slice(0, 400)}`);
    }),
    ...lines.filter((line) => line.includes('zebra-quartz-')).map((line) => `body: ${line.slice(0, 400)}`),
  ])];
  printSummary({ scenario: 'logs: bodies and tokens', logLines: lines.length, bodiesSent: bodies.length, tokensUsed: secrets.length, leakingLines: leaks.length });
  expect(leaks).toEqual([]);
}, 40_000);
