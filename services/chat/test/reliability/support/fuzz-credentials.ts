/**
 * Direct fuzzing of the credential parser (src/auth/credentials.ts `findCredential`), for
 * fuzz-parsers.test.ts (CI size) and fuzz-long.ts:
 *  - arbitrary Authorization, Sec-WebSocket-Protocol and Cookie headers and query objects:
 *    it never throws, answers null or a credential of a known source, and keeps the
 *    documented order (bearer, subprotocol, query, cookie; a cookie only under a session
 *    cookie name);
 *  - a token of any characters planted in a session cookie (whole or in NextAuth chunks)
 *    among random other cookies comes back exactly, with its cookie name; likewise a
 *    bearer header and a `bearer.` subprotocol.
 */
import fc from 'fast-check';
import type { IncomingHttpHeaders } from 'node:http';
import { expect } from 'vitest';
import { findCredential } from '../../../src/auth/credentials.ts';

const COOKIE_NAMES = ['__Secure-authjs.session-token', 'authjs.session-token', '__Secure-next-auth.session-token', 'next-auth.session-token'];
const SOURCES = ['bearer', 'subprotocol', 'query', 'cookie'];
const wellFormed = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s;

const tokenish = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.base64String({ maxLength: 60 }),
  fc.array(fc.base64String({ maxLength: 20 }), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.')),
  fc.constantFrom('', ' ', '"', '""', '%', '%ZZ', '%E0%A4%A', ';', '=', ',', 'bearer.', 'Bearer ', '\t', '\u0000'),
);

const cookieName = fc.oneof(
  fc.constantFrom(...COOKIE_NAMES),
  fc.tuple(fc.constantFrom(...COOKIE_NAMES), fc.nat({ max: 4 })).map(([n, i]) => `${n}.${i}`),
  fc.constantFrom(...COOKIE_NAMES).map((n) => ` ${n} `),
  fc.constantFrom(...COOKIE_NAMES).map((n) => n.toUpperCase()),
  fc.string({ maxLength: 20 }),
);
const cookieValue = fc.oneof(tokenish, tokenish.filter(wellFormed).map(encodeURIComponent), tokenish.map((t) => `"${t}"`));
const cookieHeader = fc.oneof(
  fc.array(fc.tuple(cookieName, cookieValue, fc.constantFrom('; ', ';', ' ; ')), { maxLength: 8 }).map((pairs) => pairs.map(([n, v, sep]) => `${n}=${v}${sep}`).join('')),
  tokenish,
);

const headersArb: fc.Arbitrary<IncomingHttpHeaders> = fc.record(
  {
    authorization: fc.oneof(
      tokenish.map((t) => `Bearer ${t}`),
      tokenish.map((t) => `bearer\t${t}`),
      tokenish.map((t) => `BEARER ${t}`),
      tokenish.map((t) => `Basic ${t}`),
      tokenish,
    ),
    'sec-websocket-protocol': fc
      .tuple(fc.array(fc.oneof(fc.constant('chat.v1'), tokenish.map((t) => `bearer.${t}`), tokenish.map((t) => ` bearer.${t} `), tokenish), { maxLength: 4 }), fc.constantFrom(', ', ','))
      .map(([protocols, sep]) => protocols.join(sep)),
    cookie: cookieHeader,
    host: fc.constantFrom('localhost', ''),
  },
  { requiredKeys: [] },
);

const queryArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.record({ token: fc.oneof(tokenish, fc.array(tokenish, { maxLength: 3 }), fc.integer(), fc.constant(null)), x: fc.string() }, { requiredKeys: [] }),
  fc.jsonValue({ maxDepth: 2 }),
  fc.string(),
  tokenish.map((token) => Object.assign(Object.create(null) as object, { token })),
);

/** A string split at code-point boundaries into `parts` non-empty pieces (fewer if it is short). */
function split(text: string, cuts: number[]): string[] {
  const points = [...text];
  const at = [...new Set(cuts.map((c) => 1 + (c % Math.max(1, points.length - 1))))].filter((c) => c < points.length).sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const cut of at) {
    pieces.push(points.slice(from, cut).join(''));
    from = cut;
  }
  pieces.push(points.slice(from).join(''));
  return pieces;
}

/** Cookies that are not session cookies, whatever their spacing. */
const otherCookie = fc
  .tuple(fc.string({ minLength: 1, maxLength: 15 }).filter((n) => !/[;=]/.test(n)), cookieValue.filter((v) => !v.includes(';')))
  .filter(([n]) => !COOKIE_NAMES.some((c) => n.trim() === c || n.trim().startsWith(`${c}.`)) && n.trim() !== '');

export class CredentialFuzzer {
  readonly counts = { inputs: 0, bySource: {} as Record<string, number>, planted: 0 };

  async run({ runs, seed }: { runs: number; seed?: number }): Promise<void> {
    const options = { numRuns: runs, ...(seed === undefined ? {} : { seed }) };
    fc.assert(fc.property(headersArb, queryArb, (headers, query) => this.arbitrary(headers, query)), options);
    fc.assert(fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }).filter(wellFormed), fc.constantFrom(...COOKIE_NAMES), fc.array(fc.nat(), { maxLength: 4 }), fc.array(otherCookie, { maxLength: 5 }), fc.array(otherCookie, { maxLength: 5 }), (token, name, cuts, before, after) => this.planted(token, name, cuts, before, after)), { ...options, numRuns: Math.ceil(runs / 4) });
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }).filter((t) => t.trim() === t && t !== '' && !t.includes(',')), fc.constantFrom('bearer', 'subprotocol'), (token, how) => {
        this.counts.inputs++;
        const headers: IncomingHttpHeaders = how === 'bearer' ? { authorization: `Bearer ${token}` } : { 'sec-websocket-protocol': `chat.v1, bearer.${token}` };
        expect(findCredential(headers, {})).toEqual({ token, source: how });
      }),
      { ...options, numRuns: Math.ceil(runs / 4) },
    );
  }

  private arbitrary(headers: IncomingHttpHeaders, query: unknown): void {
    this.counts.inputs++;
    const found = findCredential(headers, query);
    const source = found?.source ?? 'none';
    this.counts.bySource[source] = (this.counts.bySource[source] ?? 0) + 1;
    if (found === null) return;
    expect(typeof found.token).toBe('string');
    expect(SOURCES).toContain(found.source);
    const bearer = headers.authorization?.toLowerCase().startsWith('bearer ') ?? false;
    const subprotocol = (headers['sec-websocket-protocol'] ?? '').split(',').some((p) => p.trim().startsWith('bearer.'));
    const q = (query as { token?: unknown } | null | undefined)?.token;
    const queryToken = typeof q === 'string' && q.length > 0;
    if (bearer) expect(found.source).toBe('bearer');
    else if (subprotocol) expect(found.source).toBe('subprotocol');
    else if (queryToken) expect(found).toEqual({ token: q, source: 'query' });
    else {
      expect(found.source).toBe('cookie');
      expect(COOKIE_NAMES).toContain(found.cookieName);
      expect(found.token.length).toBeGreaterThan(0);
    }
    if (found.source !== 'cookie') expect(found.cookieName).toBeUndefined();
  }

  private planted(token: string, name: string, cuts: number[], before: [string, string][], after: [string, string][]): void {
    this.counts.inputs++;
    this.counts.planted++;
    const pieces = cuts.length === 0 ? [token] : split(token, cuts);
    const mine = cuts.length === 0 ? [`${name}=${encodeURIComponent(token)}`] : pieces.map((piece, i) => `${name}.${i}=${encodeURIComponent(piece)}`);
    const cookie = [...before.map(([n, v]) => `${n}=${v}`), ...mine, ...after.map(([n, v]) => `${n}=${v}`)].join('; ');
    expect(findCredential({ cookie }, {}), cookie).toEqual({ token, source: 'cookie', cookieName: name });
  }
}
