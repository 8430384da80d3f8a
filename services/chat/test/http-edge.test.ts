/**
 * The HTTP edge, whatever the spelling of a request: the per-IP limit applies to every
 * request that reaches a /v1 route (percent-encoded paths, absolute-form targets), and
 * never to /ws or the operations endpoints; and every response (success, error, 404,
 * 429) carries the security headers of a JSON API.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';

const LIMIT = 5;

let db: TestDatabase;
let main: Instance;
/** httpRatePerMin: LIMIT. */
let limited: Instance;
/** allowedOrigins: ['https://shop.example'] (CORS). */
let shop: Instance;
let token: string;

beforeAll(async () => {
  db = await createTestDatabase();
  [main, limited, shop] = await Promise.all([
    startInstance(db.url),
    startInstance(db.url, { httpRatePerMin: LIMIT }),
    startInstance(db.url, { allowedOrigins: ['https://shop.example'] }),
  ]);
  token = await mintV4({ sub: 'edge-alice', name: 'Alice' });
});

afterAll(async () => {
  await Promise.all([main, limited, shop].map((i) => i?.close()));
  await db?.drop();
});

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request with the target written exactly as given (fetch would normalise it). */
function raw(instance: Instance, target: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Raw> {
  const { port } = new URL(instance.http);
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: target, headers: options.headers, agent: false },
      (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
      },
    );
    request.on('error', reject);
    request.end();
  });
}

describe('per-IP HTTP rate limit', () => {
  it('once limited, every spelling of a /v1 route is refused 429; /ws and the operations endpoints stay open', async () => {
    const auth = { authorization: `Bearer ${token}` };
    for (let i = 0; i < LIMIT; i++) expect((await raw(limited, '/v1/me', { headers: auth })).status).toBe(200);
    const refused = await raw(limited, '/v1/me', { headers: auth });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'RATE_LIMITED', retryable: true });

    // Each of these reaches the /v1/me handler when not limited (checked on `main` below).
    const spellings = [
      '/v1/me',
      '/%761/me',
      '/v%31/me',
      '/%76%31/%6d%65',
      '/v1/m%65',
      '/v1/me?x=1',
      '/v1/me?',
      'http://x/v1/me',
      'http://127.0.0.1/%761/me',
    ];
    const statuses: Record<string, number> = {};
    for (const target of spellings) statuses[target] = (await raw(limited, target, { headers: auth })).status;
    expect(statuses).toEqual(Object.fromEntries(spellings.map((s) => [s, 429])));
    // Unauthenticated and POST spellings are counted as well.
    expect((await raw(limited, '/%761/me')).status).toBe(429);
    expect((await raw(limited, '/v%31/conversations', { method: 'POST', headers: { 'content-type': 'application/json' } })).status).toBe(429);

    // The spellings really are the route: an unlimited instance answers each with the user.
    for (const target of spellings) {
      const ok = await raw(main, target, { headers: auth });
      expect({ target, status: ok.status }).toEqual({ target, status: 200 });
      expect(JSON.parse(ok.body)).toMatchObject({ id: 'edge-alice' });
    }

    // Not limited: operations endpoints (platform probes) and the socket (its own limits).
    for (const target of ['/healthz', '/readyz', '/metrics', '/%68ealthz']) {
      expect({ target, status: (await raw(limited, target)).status }).toEqual({ target, status: 200 });
    }
    expect((await raw(limited, '/ws', { headers: auth })).status).toBe(426);
    const socket = await TestClient.connect(limited.ws, { token });
    await socket.request({ type: 'resume', conversations: {} });
    await socket.close();
  });
});

describe('security headers', () => {
  function expectJsonApiHeaders(response: Raw): void {
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
    expect(response.headers['cross-origin-resource-policy']).toBe('same-origin');
    expect(response.headers['x-powered-by']).toBeUndefined();
  }

  it('on a success, an error, a 404 and a 429', async () => {
    const success = await raw(main, '/v1/me', { headers: { authorization: `Bearer ${token}` } });
    expect(success.status).toBe(200);
    expectJsonApiHeaders(success);

    const unauthenticated = await raw(main, '/v1/me');
    expect(unauthenticated.status).toBe(401);
    expectJsonApiHeaders(unauthenticated);

    const invalid = await raw(main, '/v1/conversations?limit=abc', { headers: { authorization: `Bearer ${token}` } });
    expect(invalid.status).toBe(400);
    expectJsonApiHeaders(invalid);

    const missing = await raw(main, '/v1/no-such-route');
    expect(missing.status).toBe(404);
    expectJsonApiHeaders(missing);

    const malformed = await raw(main, '/v1/conversations/%E0%A4%A/messages', { headers: { authorization: `Bearer ${token}` } });
    expect(malformed.status).toBe(400);
    expectJsonApiHeaders(malformed);

    const health = await raw(main, '/healthz');
    expect(health.status).toBe(200);
    expectJsonApiHeaders(health);

    // The limited instance spent its budget above.
    const limitedResponse = await raw(limited, '/v1/me', { headers: { authorization: `Bearer ${token}` } });
    expect(limitedResponse.status).toBe(429);
    expectJsonApiHeaders(limitedResponse);
  });
});

describe('authentication at the /v1 door', () => {
  it('a CORS preflight needs no credentials; the request it clears does', async () => {
    const preflight = await raw(shop, '/v1/conversations', {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect((await raw(shop, '/v1/conversations', { headers: { origin: 'https://shop.example' } })).status).toBe(401);
    const allowed = await raw(shop, '/v1/conversations', { headers: { origin: 'https://shop.example', authorization: `Bearer ${token}` } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example');
  });

  it('a cookie-authenticated write from another origin is refused before its body is read', async () => {
    const cookie = { cookie: `next-auth.session-token=${token}`, 'content-type': 'application/json' };
    const crossSite = await raw(main, '/v1/conversations', { method: 'POST', headers: { ...cookie, origin: 'https://evil.example' } });
    expect(crossSite.status).toBe(403);
    expect(JSON.parse(crossSite.body)).toMatchObject({ code: 'ORIGIN_NOT_ALLOWED' });
    // A read with the same cookie and origin is not a CSRF risk.
    expect((await raw(main, '/v1/me', { headers: { ...cookie, origin: 'https://evil.example' } })).status).toBe(200);
  });
});
