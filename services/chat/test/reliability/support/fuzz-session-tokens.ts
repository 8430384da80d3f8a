/**
 * Direct fuzzing of the session-token verifier (src/auth/session-token.ts), for
 * fuzz-parsers.test.ts (CI size) and fuzz-long.ts. `verify` must only ever throw a typed
 * AppError (UNAUTHENTICATED or SESSION_EXPIRED), never anything else:
 *  - arbitrary strings and mutations of real tokens (NextAuth v4, Auth.js v5 under both
 *    salts, a rotated secret's token, chat credentials, expired and exp-less ones):
 *    characters replaced, inserted, cut; segments dropped, repeated, swapped or taken
 *    from another token; headers rewritten (alg none, other algs and encs, kid of any
 *    type, zip, crit), presented bare or under any cookie name. A token is accepted only
 *    as the identity of a real token that is valid in that place (a cookie binds it);
 *  - tokens under the real keys with arbitrary claims (a misbehaving issuer): accepted
 *    only with a clean user id, a finite session end in the future and at most exp,
 *    display claims that a text column can hold, and a known role.
 */
import fc from 'fast-check';
import { base64url, decodeProtectedHeader, EncryptJWT, SignJWT } from 'jose';
import { hkdfSync } from 'node:crypto';
import { expect } from 'vitest';
import { isValidUserId } from '../../../src/auth/identity.ts';
import { createSessionTokenVerifier, type SessionTokenVerifier } from '../../../src/auth/session-token.ts';
import { loadConfig } from '../../../src/config.ts';
import { AppError } from '../../../src/errors.ts';
import { chatCredentialKey, mintChat, mintV4, mintV4Raw, mintV5, OLD_SECRET, SECRET } from '@chat/test-support/tokens';

const V5 = ['authjs.session-token', '__Secure-authjs.session-token'];
const V4 = ['next-auth.session-token', '__Secure-next-auth.session-token'];
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A real token, and where it is valid: null when it is refused everywhere. */
interface Real {
  token: string;
  sub: string;
  /** Cookie names it is accepted under (it is always accepted bare when valid). */
  cookies: string[] | null;
}

type Outcome = { ok: true; userId: string; expiresAt: number; name: string | null; image: string | null; systemRole: unknown } | { ok: false; code: string };

const b64 = (text: string) => base64url.encode(new TextEncoder().encode(text));

const headerArb = fc.record(
  {
    alg: fc.constantFrom('dir', 'none', 'HS256', 'A256KW', 'PBES2-HS256+A128KW', 'RSA-OAEP', '', 'DIR'),
    enc: fc.constantFrom('A256GCM', 'A256CBC-HS512', 'A128GCM', 'A128CBC-HS256', 'x'),
    kid: fc.oneof(fc.string({ maxLength: 90 }), fc.integer(), fc.constant(null), fc.constant({}), fc.constant('__proto__')),
    zip: fc.constantFrom('DEF', 'x'),
    crit: fc.constantFrom(['exp'], ['b64'], [], 'x'),
    p2c: fc.constantFrom(1, 2 ** 31, 1e12),
    typ: fc.constantFrom('JWT', 'JWE', ''),
    b64: fc.boolean(),
  },
  { requiredKeys: [] },
);

const mutationArb = fc.oneof(
  fc.tuple(fc.constant('replace' as const), fc.nat(), fc.oneof(fc.constantFrom(...B64URL, '.', '=', ' ', '+', '/'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }))),
  fc.tuple(fc.constant('insert' as const), fc.nat(), fc.string({ unit: 'binary', minLength: 1, maxLength: 3 })),
  fc.tuple(fc.constant('delete' as const), fc.nat(), fc.integer({ min: 1, max: 4 })),
  fc.tuple(fc.constant('truncate' as const), fc.nat()),
  fc.tuple(fc.constant('dropSegment' as const), fc.nat()),
  fc.tuple(fc.constant('repeatSegment' as const), fc.nat()),
  fc.tuple(fc.constant('swapSegments' as const), fc.nat(), fc.nat()),
  fc.tuple(fc.constant('randomSegment' as const), fc.nat(), fc.string({ unit: fc.constantFrom(...B64URL), maxLength: 80 })),
  fc.tuple(fc.constant('otherSegment' as const), fc.nat(), fc.nat()),
  fc.tuple(fc.constant('header' as const), headerArb, fc.boolean()),
  fc.tuple(fc.constant('case' as const), fc.boolean()),
  fc.tuple(fc.constant('pad' as const), fc.constantFrom(' ', '\t', '\n', '=', '.', ',', '\u0000')),
  fc.tuple(fc.constant('none' as const)),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer M> ? M : never;

const arbitraryTokenArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.array(fc.string({ unit: fc.constantFrom(...B64URL), maxLength: 60 }), { minLength: 1, maxLength: 7 }).map((s) => s.join('.')),
  fc.tuple(fc.jsonValue({ maxDepth: 2 }), fc.array(fc.string({ unit: fc.constantFrom(...B64URL), maxLength: 40 }), { minLength: 1, maxLength: 5 })).map(([h, rest]) => [b64(JSON.stringify(h) ?? ''), ...rest].join('.')),
);

// '' is what authenticate() passes for a cookie without a name: it must match no key, even
// for a token already verified bare (the cache once shared their entry).
const cookieNameArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.constantFrom(...V4, ...V5) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'authjs.session-token.0', 'x') },
);

/** Claims of every shape, for tokens sealed under the real keys. */
const now = () => Math.floor(Date.now() / 1000);
/** Mostly near now (so some tokens pass and their limits are exercised), sometimes absurd. */
const timeArb = (from: number, to: number) =>
  fc
    .oneof(
      { weight: 6, arbitrary: fc.integer({ min: from, max: to }).map((d) => ({ d })) },
      { weight: 1, arbitrary: fc.integer({ min: -100 * 365 * 86400, max: 100 * 365 * 86400 }).map((d) => ({ d })) },
      { weight: 1, arbitrary: fc.constantFrom(0, -1, 1e308, -1e308, 2 ** 53, 1.5, 'soon', null, true) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    )
    .map((v) => (v !== null && typeof v === 'object' && 'd' in v ? now() + v.d : v));
const claimsArb = fc.record(
  {
    sub: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('alice', 'bob', 'Zoë 😀', 'a b') },
      { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
      { weight: 1, arbitrary: fc.constantFrom('', 'a\nb', '\u202e', '\u200b', 'x'.repeat(255), 'x'.repeat(256), '\ud800', 'a\u2028') },
      { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constant(null)) },
    ),
    name: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('\u0000', 'n'.repeat(3000)), fc.integer()),
    picture: fc.oneof(fc.string({ maxLength: 20 }), fc.constant(['x'])),
    role: fc.constantFrom('owner', 'admin', 'member', 'OWNER', 1, null),
    iat: timeArb(-3 * 3600, 60),
    exp: timeArb(-600, 3 * 3600),
    nbf: timeArb(-3600, 600),
    iss: fc.constantFrom('storefront', 'storefront', 'storefront', 'other', 1),
    aud: fc.constantFrom('chat', 'chat', ['chat', 'x'], 'x', []),
    extra: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: ['sub', 'iat', 'exp'] },
);

export class SessionTokenFuzzer {
  readonly counts = { verified: 0, accepted: 0, byCode: {} as Record<string, number>, sealedClaims: 0, acceptedClaims: 0 };

  private constructor(
    private readonly verifier: SessionTokenVerifier,
    private readonly reals: Real[],
    private readonly limits: { clockToleranceSec: number; chatCredentialMaxTtlSec: number },
  ) {}

  static async create(): Promise<SessionTokenFuzzer> {
    const config = loadConfig({ AUTH_SECRET: `${SECRET},${OLD_SECRET}` });
    const verifier = await createSessionTokenVerifier({
      secrets: config.authSecrets,
      clockToleranceSec: config.clockToleranceSec,
      systemRoleClaim: config.systemRoleClaim,
      maxSessionAgeSec: config.maxSessionAgeSec,
      chatCredentialMaxTtlSec: config.chatCredentialMaxTtlSec,
    });
    const reals: Real[] = [
      { token: await mintV4({ sub: 'alice', name: 'Alice' }), sub: 'alice', cookies: V4 },
      { token: await mintV4({ sub: 'bob' }, { secret: OLD_SECRET }), sub: 'bob', cookies: V4 },
      { token: await mintV5({ sub: 'carol' }, { salt: V5[0] }), sub: 'carol', cookies: [V5[0]!] },
      { token: await mintV5({ sub: 'dave' }, { salt: V5[1] }), sub: 'dave', cookies: [V5[1]!] },
      { token: await mintChat({ sub: 'erin', name: 'Erin' }), sub: 'erin', cookies: [] },
      { token: await mintV4({ sub: 'frank' }, { maxAge: -3600 }), sub: 'frank', cookies: null },
      { token: await mintV4Raw({ sub: 'gina', iat: now() }), sub: 'gina', cookies: null },
      { token: await mintChat({ sub: 'hal' }, { ttl: 7200 }), sub: 'hal', cookies: null },
      { token: await mintV4({ sub: 'ivy\u0007' }), sub: 'ivy\u0007', cookies: null },
    ];
    const fuzzer = new SessionTokenFuzzer(verifier, reals, config);
    // The fixtures are what they claim: valid ones accepted bare, the others refused.
    for (const real of reals) {
      const outcome = await fuzzer.outcome(real.token, undefined);
      expect(outcome.ok ? outcome.userId : null, real.sub).toBe(real.cookies ? real.sub : null);
    }
    return fuzzer;
  }

  async run({ runs, seed }: { runs: number; seed?: number }): Promise<void> {
    const options = { numRuns: runs, endOnFailure: true, ...(seed === undefined ? {} : { seed }) };
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: this.reals.length - 1 }), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), cookieNameArb, async (index, mutations, cookieName) => {
        const token = mutations.reduce((t, m) => this.mutate(t, m), this.reals[index]!.token);
        await this.check(token, cookieName);
      }),
      options,
    );
    await fc.assert(fc.asyncProperty(arbitraryTokenArb, cookieNameArb, (token, cookieName) => this.check(token, cookieName)), { ...options, numRuns: Math.ceil(runs / 4) });
    await fc.assert(fc.asyncProperty(claimsArb, fc.constantFrom('v4', 'chat'), (claims, kind) => this.sealed(claims, kind)), { ...options, numRuns: Math.ceil(runs / 4) });
  }

  private async outcome(token: string, cookieName: string | undefined): Promise<Outcome> {
    this.counts.verified++;
    try {
      const identity = await this.verifier.verify(token, cookieName);
      this.counts.accepted++;
      return { ok: true, ...identity };
    } catch (error) {
      if (!(error instanceof AppError)) throw new Error(`verify threw an untyped error: ${String(error)} for ${JSON.stringify(token.slice(0, 400))}`);
      this.counts.byCode[error.code] = (this.counts.byCode[error.code] ?? 0) + 1;
      expect(['UNAUTHENTICATED', 'SESSION_EXPIRED'], `${error.code} for ${token.slice(0, 200)}`).toContain(error.code);
      return { ok: false, code: error.code };
    }
  }

  /** Accepted only as a real token's identity, valid where it was presented. */
  private async check(token: string, cookieName: string | undefined): Promise<void> {
    const outcome = await this.outcome(token, cookieName);
    if (!outcome.ok) return;
    const origin = this.reals.filter((r) => r.sub === outcome.userId && r.cookies && (cookieName === undefined || r.cookies.includes(cookieName)));
    expect(origin.length, `accepted ${JSON.stringify(token.slice(0, 300))} as ${outcome.userId} under ${cookieName}`).toBeGreaterThan(0);
  }

  private async sealed(claims: Record<string, unknown>, kind: 'v4' | 'chat'): Promise<void> {
    const { extra, ...rest } = claims;
    const payload = { ...(extra !== undefined ? { extra } : {}), ...rest };
    let token: string;
    try {
      token =
        kind === 'v4'
          ? await new EncryptJWT(payload).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(new Uint8Array(hkdfSync('sha256', SECRET, '', 'NextAuth.js Generated Encryption Key', 32)))
          : await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(chatCredentialKey());
    } catch {
      return; // jose refuses to seal it: no issuer can send it
    }
    this.counts.sealedClaims++;
    const outcome = await this.outcome(token, undefined);
    if (!outcome.ok) return;
    this.counts.acceptedClaims++;
    const what = JSON.stringify(claims).slice(0, 300);
    expect(isValidUserId(outcome.userId), what).toBe(true);
    expect(outcome.userId, what).toBe(claims.sub);
    expect(Number.isFinite(outcome.expiresAt), what).toBe(true);
    expect(outcome.expiresAt + this.limits.clockToleranceSec, what).toBeGreaterThan(Date.now() / 1000);
    expect(outcome.expiresAt, what).toBeLessThanOrEqual(claims.exp as number);
    for (const text of [outcome.name, outcome.image]) expect(text === null || (typeof text === 'string' && text.length <= 2048 && !text.includes('\u0000')), what).toBe(true);
    expect([null, 'owner', 'admin'], what).toContain(outcome.systemRole);
    if (kind === 'chat') {
      expect(claims.iss, what).toBe('storefront');
      expect([claims.aud].flat(), what).toContain('chat');
      expect((claims.exp as number) - (claims.iat as number), what).toBeLessThanOrEqual(this.limits.chatCredentialMaxTtlSec);
    }
  }

  private mutate(token: string, m: Mutation): string {
    const segments = token.split('.');
    const at = (n: number, length: number) => (length === 0 ? 0 : n % length);
    switch (m[0]) {
      case 'replace': {
        const i = at(m[1], token.length);
        return token.slice(0, i) + m[2] + token.slice(i + 1);
      }
      case 'insert': {
        const i = at(m[1], token.length + 1);
        return token.slice(0, i) + m[2] + token.slice(i);
      }
      case 'delete': {
        const i = at(m[1], token.length);
        return token.slice(0, i) + token.slice(i + m[2]);
      }
      case 'truncate':
        return token.slice(0, at(m[1], token.length));
      case 'dropSegment':
        segments.splice(at(m[1], segments.length), 1);
        return segments.join('.');
      case 'repeatSegment': {
        const i = at(m[1], segments.length);
        segments.splice(i, 0, segments[i]!);
        return segments.join('.');
      }
      case 'swapSegments': {
        const i = at(m[1], segments.length);
        const j = at(m[2], segments.length);
        [segments[i], segments[j]] = [segments[j]!, segments[i]!];
        return segments.join('.');
      }
      case 'randomSegment':
        segments[at(m[1], segments.length)] = m[2];
        return segments.join('.');
      case 'otherSegment': {
        const other = this.reals[at(m[1], this.reals.length)]!.token.split('.');
        const i = at(m[2], segments.length);
        segments[i] = other[at(i, other.length)]!;
        return segments.join('.');
      }
      case 'header': {
        let original: Record<string, unknown> = {};
        try {
          original = decodeProtectedHeader(token) as Record<string, unknown>;
        } catch {
          // not a JOSE token any more: the rewritten header stands alone
        }
        segments[0] = b64(JSON.stringify(m[2] ? { ...original, ...m[1] } : m[1]));
        return segments.join('.');
      }
      case 'case':
        return m[1] ? token.toUpperCase() : token.toLowerCase();
      case 'pad':
        return `${m[1]}${token}${m[1]}`;
      case 'none':
        return token;
    }
  }
}
