/**
 * Bad input 6 (HTTP): property-based fuzzing of every /v1 route, read from the running
 * app's own route table (app.printRoutes()), so a new route is fuzzed without editing this
 * file. Random methods, path params, query strings, bodies, content types and credentials.
 * Every answer is 2xx or 4xx, never 5xx; every 4xx has the JSON error shape
 * {code, message, retryable}; a refused request leaves the database exactly as it was.
 */
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, startInstance, type Instance, type TestDatabase } from '../support/harness.ts';
import { mintV4 } from '../support/tokens.ts';
import { printSummary } from './support/checker.ts';
import { call, group, users } from './support/setup.ts';

let db: TestDatabase;
let main: Instance;
let tokens: Record<string, string>;
let expired: string;
let ids: { own: string[]; foreign: string[] };
let routes: { method: string; path: string }[];
const counts = { requests: 0, byStatus: {} as Record<string, number>, serverErrors: 0, badShape: 0 };

/** Full paths and methods from Fastify's printed route tree. */
function parseRoutes(tree: string): { method: string; path: string }[] {
  const found: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const at = line.search(/[├└]── /);
    if (at < 0) continue;
    const depth = at / 4;
    const match = /^(\S+)(?: \(([^)]*)\))?/.exec(line.slice(at + 4));
    if (!match) continue;
    stack.length = depth;
    stack.push(match[1]!);
    for (const method of (match[2] ?? '').split(',').map((m) => m.trim()).filter(Boolean)) {
      if (method !== 'HEAD' && method !== 'OPTIONS') found.push({ method, path: stack.join('') });
    }
  }
  return found;
}

beforeAll(async () => {
  db = await createTestDatabase();
  main = await startInstance(db.url);
  tokens = await users(main, ['alice', 'bob', 'carol', 'dave']);
  expired = await mintV4({ sub: 'alice' }, { maxAge: -3600 });
  const ours = await group(main, tokens.alice!, 'ours', ['bob']);
  const theirs = await group(main, tokens.carol!, 'theirs', ['dave']);
  const send = async (token: string, conversationId: string) =>
    (await call(main, token, 'POST', `/v1/conversations/${conversationId}/messages`, { clientMsgId: randomUUID(), body: 'seed' })).body.message.id as string;
  ids = { own: [ours, await send(tokens.alice!, ours), await send(tokens.bob!, ours)], foreign: [theirs, await send(tokens.carol!, theirs)] };
  routes = parseRoutes(main.chat.app.printRoutes({ commonPrefix: false })).filter((r) => r.path.startsWith('/v1/'));
});

afterAll(async () => {
  await main?.close();
  await db?.drop();
});

async function snapshot(): Promise<Record<string, number>> {
  const [row] = await db.sql<[Record<string, number>]>`select
    (select count(*) from messages)::int as messages,
    (select count(*) from events)::int as events,
    (select count(*) from members)::int as members,
    (select count(*) from reactions)::int as reactions,
    (select count(*) from attachments)::int as attachments,
    (select count(*) from conversations where deleted_at is null)::int as conversations,
    (select count(*) from users)::int as users,
    (select coalesce(sum(last_seq), 0)::int from conversations) as seqs,
    (select coalesce(sum(last_read_seq + last_delivered_seq), 0)::int from members) as receipts,
    (select count(*) from members where muted)::int as muted`;
  return row;
}

const junk = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('..', '%', '%00', '%2F', '%ZZ', ' ', '😀', 'null', '-1', '0', '1e309', 'x'.repeat(2000), "'; drop table messages; --"),
);
const param = () =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ids.own, ...ids.foreign) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.constantFrom('alice', 'bob', 'carol', 'nobody', '👍') },
    { weight: 2, arbitrary: junk },
  );
const queryValue = fc.oneof(fc.integer({ min: -5, max: 200 }).map(String), fc.constantFrom('', '1.5', '9007199254740993', 'true', '[]'), junk);
const query = fc.array(fc.tuple(fc.constantFrom('limit', 'after', 'before', 'cursor', 'q', 'conversationId', 'token', 'x', ''), queryValue), { maxLength: 4 });
const bodyValue = () =>
  fc.oneof(
    fc.record(
      {
        title: fc.oneof(fc.string({ maxLength: 210 }), fc.integer()),
        memberIds: fc.array(fc.oneof(fc.constantFrom('bob', 'carol', 'nobody'), junk), { maxLength: 3 }),
        userId: fc.oneof(fc.constantFrom('bob', 'carol', 'alice', 'nobody'), junk),
        userIds: fc.array(fc.constantFrom('bob', 'carol', 'nobody', ''), { maxLength: 3 }),
        clientMsgId: fc.oneof(fc.uuid(), junk),
        body: fc.oneof(fc.string({ minLength: 1, maxLength: 50 }), fc.constantFrom('', ' ', 'a'.repeat(4001)), fc.integer()),
        role: fc.constantFrom('owner', 'admin', 'member', 'god', 1),
        muted: fc.oneof(fc.boolean(), fc.constant('yes')),
        upTo: fc.oneof(fc.integer({ min: -2, max: 10 }), fc.constant(2 ** 60)),
        state: fc.constantFrom('start', 'stop', 'maybe'),
        isPublic: fc.oneof(fc.boolean(), fc.constant(0)),
        replyToId: param(),
      },
      { requiredKeys: [] },
    ),
    fc.jsonValue({ maxDepth: 3 }),
  );
type Body = { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'raw'; text: string; type: string };
const body = (): fc.Arbitrary<Body> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 6, arbitrary: bodyValue().map((value) => ({ kind: 'json' as const, value })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.oneof(fc.string({ maxLength: 100 }), fc.constant('{"title": "x",'), fc.constant('x'.repeat(300 * 1024))),
          fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'image/png', 'application/octet-stream', 'application/json; charset=latin1'),
        )
        .map(([text, type]) => ({ kind: 'raw' as const, text, type })),
    },
  );
const credential = () =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(tokens.alice!) },
    { weight: 1, arbitrary: fc.constantFrom(tokens.carol!, expired, 'garbage', `${tokens.alice!.slice(0, -3)}AAA`, '') },
  );

function isValidComponent(value: string): boolean {
  try {
    decodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}

it('router-level refusals (malformed percent-encoding, a path parameter over 100 characters) get the typed error shape too', async () => {
  const paths = [
    '/v1/conversations/%ZZ',
    '/v1/conversations/%/messages',
    `/v1/conversations/${ids.own[0]}/messages/%E0%A4%A/edits`,
    `/v1/conversations/${'x'.repeat(101)}`,
    `/v1/conversations/${ids.own[0]}/members/${'u'.repeat(300)}`,
  ];
  const answers = [];
  for (const path of paths) {
    const response = await fetch(`${main.http}${path}`, { headers: { authorization: `Bearer ${tokens.alice!}` } });
    answers.push({ path: path.slice(0, 80), status: response.status, body: await response.json() });
  }
  for (const answer of answers) {
    expect(answer.status, answer.path).toBeGreaterThanOrEqual(400);
    expect(answer.status, answer.path).toBeLessThan(500);
    expect(answer.body, answer.path).toEqual({ code: expect.any(String), message: expect.any(String), retryable: false });
  }
});

it('every /v1 route under random input: only 2xx/4xx, typed errors, no change on refusal', async () => {
  expect(routes.length).toBeGreaterThanOrEqual(25);
  const request = fc.record({
    route: fc.constantFrom(...routes),
    otherMethod: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE') }),
    params: fc.array(param(), { minLength: 4, maxLength: 4 }),
    rawParams: fc.boolean(),
    query,
    body: body(),
    token: credential(),
  });
  await fc.assert(
    fc.asyncProperty(request, async ({ route, otherMethod, params, rawParams, query: q, body: b, token }) => {
      let n = 0;
      const path = route.path.replace(/:[a-zA-Z]+/g, () => {
        const value = String(params[n++ % params.length]);
        // Malformed percent-encoding and parameters over 100 characters are answered by the
        // router before the app's error handler: the test above covers them.
        const encoded = rawParams && isValidComponent(value) ? value : encodeURIComponent(value);
        return encoded.length > 100 ? encoded.slice(0, 100).replace(/%[0-9A-F]?$/i, '') : encoded;
      });
      const search = q.length ? `?${q.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}` : '';
      const method = otherMethod ?? route.method;
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      let payload: string | undefined;
      if (method !== 'GET' && b.kind === 'json') {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(b.value) ?? 'null';
      } else if (method !== 'GET' && b.kind === 'raw') {
        headers['content-type'] = b.type;
        payload = b.text;
      }
      const before = await snapshot();
      const response = await fetch(`${main.http}${path}${search}`, { method, headers, body: payload });
      const text = await response.text();
      counts.requests++;
      counts.byStatus[response.status] = (counts.byStatus[response.status] ?? 0) + 1;
      const url = `${path}${search}`;
      const what = `${method} ${url.length > 200 ? `${url.slice(0, 150)}…(${url.length} chars)` : url} -> ${response.status} ${text.slice(0, 300)}`;
      if (response.status >= 500) counts.serverErrors++;
      expect(response.status, what).toBeLessThan(500);
      if (response.status >= 400) {
        let parsed: any = null;
        try {
          parsed = JSON.parse(text);
        } catch {
          counts.badShape++;
        }
        expect(parsed, what).toMatchObject({ code: expect.any(String), message: expect.any(String), retryable: expect.any(Boolean) });
        expect(Object.keys(parsed).filter((k) => !['code', 'message', 'retryable', 'details'].includes(k)), what).toEqual([]);
        expect(await snapshot(), what).toEqual(before);
      }
    }),
    { numRuns: 1200, endOnFailure: true },
  );
  printSummary({
    scenario: 'fuzz: HTTP /v1 routes',
    routes: routes.length,
    requestsTried: counts.requests,
    byStatus: counts.byStatus,
    serverErrors: counts.serverErrors,
    malformedErrorBodies: counts.badShape,
  });
}, 55_000);
