/**
 * loggedUrl (src/http/request-log.ts) on its own: whatever the target and the parsed query,
 * the logged URL holds no query value outside the paging/id allow-list and no part of an
 * absolute-form target's authority.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loggedUrl } from '../src/http/request-log.ts';

const SECRET = 'sekr1t-Value_xyz';

describe('loggedUrl', () => {
  it('keeps the path and the allowed values, redacts the rest', () => {
    expect(loggedUrl('/v1/conversations?limit=5&token=abc&x=y', { limit: '5', token: 'abc', x: 'y' })).toBe(
      '/v1/conversations?limit=5&token=[redacted]&x=[redacted]',
    );
    expect(loggedUrl('/v1/me?%74oken=abc', { token: 'abc' })).toBe('/v1/me?token=[redacted]');
    expect(loggedUrl('/v1/me?token=a&token=b', { token: ['a', 'b'] })).toBe('/v1/me?token=[redacted]&token=[redacted]');
    expect(loggedUrl('http://u:p@host/v1/me?q=hi', { q: 'hi' })).toBe('/v1/me?q=[redacted]');
    expect(loggedUrl('/v1/me?', {})).toBe('/v1/me');
    expect(loggedUrl('/v1/%E0?token=x', undefined)).toBe('/v1/%E0?[redacted]');
    expect(loggedUrl('/v1/search?before=' + 'a'.repeat(65), { before: 'a'.repeat(65) })).toBe('/v1/search?before=[redacted]');
  });

  it('never logs a value outside the allow-list, nor a key that is not a plain name (property)', () => {
    const allowed = ['limit', 'before', 'after', 'cursor', 'conversationId'];
    // Keys that are not allowed (some carry the secret themselves); every value carries it.
    const key = fc
      .oneof(fc.constantFrom('token', 'TOKEN', 'Token', 'q', 'filename', 'x'), fc.string(), fc.string().map((s) => `${SECRET}${s}`))
      .filter((k) => !allowed.includes(k));
    const value = fc.tuple(fc.string(), fc.string()).map(([a, b]) => `${a}${SECRET}${b}`);
    fc.assert(
      fc.property(
        fc.dictionary(key, fc.oneof(value, fc.array(value, { maxLength: 3 }))),
        fc.dictionary(fc.constantFrom(...allowed), fc.string({ maxLength: 10 })),
        fc.constantFrom('/v1/me', 'http://h/v1/me', `http://${SECRET}@h/ws`),
        (secretQuery, pagingQuery, target) => {
          const logged = loggedUrl(`${target}?anything`, { ...pagingQuery, ...secretQuery });
          expect(logged).not.toContain(SECRET);
          expect(logged).not.toContain(encodeURIComponent(SECRET));
          expect(logged.startsWith('/')).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
