/**
 * Credentials, search terms and filenames never reach the request logs, however the request
 * spells them. The instance is a real child process at LOG_LEVEL=info (the production
 * logger, pino to stdout). Every token minted here is used through some channel and
 * spelling that the service accepts (`?token=`, `?%74oken=`, fully percent-encoded keys,
 * absolute-form targets, `/ws?%74oken=`, Bearer, cookie,
 * subprotocol) or that it refuses (`;token=`, a `#` before the query, repeated `token`, other case, a tampered
 * token, a malformed URL, an unknown route); then the whole output is searched for each
 * token, in every encoding, and for any 32-character piece of it, and for the markers put
 * into search terms and filenames.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@chat/test-support/harness';
import { mintV4, mintV5 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';
import { printSummary } from './support/checker.ts';
import { spawnInstance, stopAllInstances, stopInstance, type ChildInstance } from './support/child.ts';
import { call } from './support/setup.ts';

let db: TestDatabase;
let instance: ChildInstance;
let attachmentsDir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  attachmentsDir = await mkdtemp(path.join(tmpdir(), 'chat-log-redaction-'));
  instance = await spawnInstance('log-redaction', db.url, { LOG_LEVEL: 'info', ATTACHMENTS_DIR: attachmentsDir });
});

afterAll(async () => {
  await stopAllInstances();
  await db?.drop();
  if (attachmentsDir) await rm(attachmentsDir, { recursive: true, force: true });
});

/** Every byte percent-encoded, in upper or lower case hex. */
function encodeAll(value: string, lower = false): string {
  const hex = [...Buffer.from(value)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  return lower ? hex : hex.toUpperCase();
}

/** A request whose target is sent exactly as written (fetch would normalise it). */
function raw(target: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port: instance.port, method: options.method ?? 'GET', path: target, headers: options.headers, agent: false },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode!));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

it('no token, search term or filename appears in the info logs, whatever the spelling', async () => {
  const tokens: string[] = [];
  const mint = async (sub: string, v5 = false) => {
    const token = v5 ? await mintV5({ sub, name: sub }) : await mintV4({ sub, name: sub });
    tokens.push(token);
    return token;
  };
  const markers: string[] = [];
  const marker = (kind: string) => {
    const m = `${kind}-okapi-${randomUUID().slice(0, 8)}`;
    markers.push(m);
    return m;
  };

  const owner = await mint('redact-owner');
  const created = await call(instance, owner, 'POST', '/v1/conversations', { title: 'redaction', memberIds: [] });
  expect(created.status).toBe(201);
  const room = created.body.id as string;

  // Accepted query spellings of the credential, over HTTP: each mints its own token.
  const accepted: [string, (t: string) => string][] = [
    ['plain', (t) => `/v1/me?token=${t}`],
    ['encoded key', (t) => `/v1/me?%74oken=${t}`],
    ['fully encoded key, upper', (t) => `/v1/me?${encodeAll('token')}=${t}`],
    ['fully encoded key, lower', (t) => `/v1/me?${encodeAll('token', true)}=${t}`],
    ['fully encoded value', (t) => `/v1/me?token=${encodeAll(t)}`],
    ['fully encoded value, lower', (t) => `/v1/me?%74oken=${encodeAll(t, true)}`],
    ['after other params', (t) => `/v1/conversations?limit=5&token=${t}&x=y`],
    ['encoded path', (t) => `/%761/m%65?token=${t}`],
    ['absolute form', (t) => `http://chat.example/v1/me?%74oken=${t}`],
    ['absolute form with userinfo', (t) => `http://u:${t}@chat.example/v1/me?token=${t}`],
    ['download', (t) => `/v1/conversations/${room}?token=${t}`],
  ];
  const statuses: Record<string, number> = {};
  for (const [name, target] of accepted) statuses[name] = await raw(target(await mint(`redact-${name.replaceAll(' ', '-')}`)));
  expect(statuses).toEqual({ ...Object.fromEntries(accepted.map(([name]) => [name, 200])), download: 403 });

  // Refused spellings (or routes) that still carry a token: refused, and not logged either.
  const refused: [string, string][] = [
    ['semicolon', `/v1/me?x=1;token=${await mint('redact-semi')}`],
    ['fragment before the query', `/v1/me#frag?token=${await mint('redact-fragment')}`],
    ['repeated', `/v1/me?token=${await mint('redact-rep-1')}&token=${await mint('redact-rep-2')}`],
    ['upper case key', `/v1/me?TOKEN=${await mint('redact-upper')}`],
    ['tampered', `/v1/me?token=${(await mint('redact-tampered')).slice(0, -6)}AAAAAA`],
    ['unknown route', `/v1/nope?token=${await mint('redact-404')}`],
    ['malformed url', `/v1/%E0%A4%A?token=${await mint('redact-bad-url')}`],
    ['bad body', `/v1/conversations?token=${await mint('redact-bad-body')}`],
  ];
  const refusals: Record<string, number> = {};
  for (const [name, target] of refused) {
    refusals[name] = await raw(target, name === 'bad body' ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":' } : {});
  }
  expect(refusals).toEqual({ semicolon: 401, 'fragment before the query': 401, repeated: 401, 'upper case key': 401, tampered: 401, 'unknown route': 404, 'malformed url': 400, 'bad body': 400 });

  // The socket: query spellings and the header channels.
  const sockets = [
    await TestClient.connect(`${instance.ws}?token=${await mint('redact-ws-plain')}`),
    await TestClient.connect(`${instance.ws}?%74oken=${await mint('redact-ws-encoded')}`),
    await TestClient.connect(`${instance.ws}?${encodeAll('token', true)}=${encodeAll(await mint('redact-ws-all'))}`),
    await TestClient.connect(instance.ws, { token: await mint('redact-ws-bearer') }),
    await TestClient.connect(instance.ws, { protocols: ['chat.v1', `bearer.${await mint('redact-ws-sub', true)}`] }),
    await TestClient.connect(instance.ws, { headers: { cookie: `next-auth.session-token=${await mint('redact-ws-cookie')}` } }),
  ];
  for (const socket of sockets) await socket.request({ type: 'resume', conversations: {} });
  await Promise.all(sockets.map((s) => s.close()));

  // Search terms and filenames, in the query as the API takes them, and percent-encoded.
  const auth = { authorization: `Bearer ${owner}` };
  expect(await raw(`/v1/search?q=${marker('search')}`, { headers: auth })).toBe(200);
  expect(await raw(`/v1/search?%71=${encodeAll(marker('search'))}&limit=5`, { headers: auth })).toBe(200);
  expect(await raw(`/v1/search?q=${marker('search')}&conversationId=${room}`, { headers: auth })).toBe(200);
  const upload = (filename: string) =>
    raw(`/v1/conversations/${room}/attachments?filename=${filename}`, { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: 'hello' });
  expect(await upload(`${marker('file')}.txt`)).toBe(201);
  expect(await upload(`${encodeAll(marker('file'))}.txt`)).toBe(201);
  expect(await upload(`${marker('file')}.exe`)).toBe(201);

  await stopInstance(instance);
  const output = instance.output();
  const lines = output.split('\n').filter(Boolean);

  const forms = (secret: string) => {
    const pieces = [secret, ...secret.split('.').filter((p) => p.length >= 32).map((p) => p.slice(0, 32))];
    return pieces.flatMap((p) => [p, encodeURIComponent(p), encodeAll(p), encodeAll(p, true)]);
  };
  const leaks = [
    ...new Set([
      ...tokens.flatMap((token) => lines.filter((line) => forms(token).some((form) => line.includes(form))).map((line) => `token: ${line.slice(0, 300)}`)),
      ...markers.flatMap((m) => lines.filter((line) => forms(m).some((form) => line.includes(form)) || line.includes('okapi')).map((line) => `marker: ${line.slice(0, 300)}`)),
    ]),
  ];
  printSummary({ scenario: 'logs: credentials, search terms, filenames', logLines: lines.length, tokensMinted: tokens.length, markers: markers.length, leakingLines: leaks.length });
  expect(leaks).toEqual([]);
  // The capture is real: request logs are there, with the paths and the harmless query values.
  expect(output).toContain('"msg":"incoming request"');
  expect(output).toContain('"url":"/v1/conversations?limit=5&token=[redacted]&x=[redacted]"');
  expect(output).toContain(`"url":"/v1/search?q=[redacted]&conversationId=${room}"`);
  expect(output).toContain('"url":"/v1/me?[redacted]"'); // `#frag?token=…`: a key that is no plain name
  expect(output).toContain('"url":"/v1/%E0%A4%A?[redacted]"'); // unparsed query of a malformed URL
}, 60_000);
