/**
 * The HTTP fuzzer behind fuzz-http.test.ts (CI size) and fuzz-long.ts (100,000+ requests):
 * every /v1 route from the app's own route table, random methods, params, queries, bodies,
 * content types and credentials, spread over one or more instances. Every answer is 2xx or
 * 4xx, never 5xx; every 4xx has the JSON error shape {code, message, retryable}; a refused
 * request leaves the database exactly as it was.
 */
import fc from 'fast-check';
import type { Sql } from 'postgres';
import { expect } from 'vitest';
import { httpRequest, type HttpRequestInput, type HttpTargets } from './fuzz-arbitraries.ts';
import { snapshot, type FuzzWorld } from './fuzz-world.ts';
import type { Http } from './setup.ts';

export type Route = { method: string; path: string };

/** Full paths and methods from Fastify's printed route tree (`app.printRoutes({ commonPrefix: false })`). */
export function parseRoutes(tree: string): Route[] {
  const found: Route[] = [];
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
  return found.filter((r) => r.path.startsWith('/v1/'));
}

function isValidComponent(value: string): boolean {
  try {
    decodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}

export class HttpFuzzer {
  readonly counts = { requests: 0, byStatus: {} as Record<string, number>, serverErrors: 0, badShape: 0 };
  private readonly targets: HttpTargets;

  constructor(
    private readonly instances: Http[],
    private readonly sql: Sql,
    world: FuzzWorld,
    routes: Route[],
  ) {
    const { alice, carol } = world.tokens;
    this.targets = { routes, own: world.own, foreign: world.foreign, alice, carol, expired: world.expired, instances: instances.length };
  }

  /** Malformed percent-encoding and path params over 100 characters, answered by the router before the app's handler. */
  async routerRefusals(): Promise<void> {
    const [ours] = this.targets.own;
    const paths = [
      '/v1/conversations/%ZZ',
      '/v1/conversations/%/messages',
      `/v1/conversations/${ours}/messages/%E0%A4%A/edits`,
      `/v1/conversations/${'x'.repeat(101)}`,
      `/v1/conversations/${ours}/members/${'u'.repeat(300)}`,
    ];
    for (const instance of this.instances) {
      for (const path of paths) {
        const response = await fetch(`${instance.http}${path}`, { headers: { authorization: `Bearer ${this.targets.alice}` } });
        this.count(response.status);
        const body = await response.json();
        expect(response.status, path).toBeGreaterThanOrEqual(400);
        expect(response.status, path).toBeLessThan(500);
        expect(body, path).toEqual({ code: expect.any(String), message: expect.any(String), retryable: false });
      }
    }
  }

  async run({ runs, seed }: { runs: number; seed?: number }): Promise<void> {
    await fc.assert(
      fc.asyncProperty(httpRequest(this.targets), (input) => this.one(input)),
      { numRuns: runs, endOnFailure: true, ...(seed === undefined ? {} : { seed }) },
    );
  }

  private count(status: number): void {
    this.counts.requests++;
    this.counts.byStatus[status] = (this.counts.byStatus[status] ?? 0) + 1;
    if (status >= 500) this.counts.serverErrors++;
  }

  private async one({ route, otherMethod, params, rawParams, query, body, token, instance }: HttpRequestInput): Promise<void> {
    let n = 0;
    const path = route.path.replace(/:[a-zA-Z]+/g, () => {
      const value = String(params[n++ % params.length]);
      // Malformed percent-encoding and parameters over 100 characters are answered by the
      // router before the app's error handler: routerRefusals() covers them.
      const encoded = rawParams && isValidComponent(value) ? value : encodeURIComponent(value);
      return encoded.length > 100 ? encoded.slice(0, 100).replace(/%[0-9A-F]?$/i, '') : encoded;
    });
    const search = query.length ? `?${query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}` : '';
    const method = otherMethod ?? route.method;
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    let payload: string | undefined;
    if (method !== 'GET' && body.kind === 'json') {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.value) ?? 'null';
    } else if (method !== 'GET' && body.kind === 'raw') {
      headers['content-type'] = body.type;
      payload = body.text;
    }
    const before = await snapshot(this.sql);
    const response = await fetch(`${this.instances[instance]!.http}${path}${search}`, { method, headers, body: payload });
    const text = await response.text();
    this.count(response.status);
    const url = `${path}${search}`;
    const what = `${method} ${url.length > 200 ? `${url.slice(0, 150)}…(${url.length} chars)` : url} -> ${response.status} ${text.slice(0, 300)}`;
    expect(response.status, what).toBeLessThan(500);
    if (response.status >= 400) {
      let parsed: any = null;
      try {
        parsed = JSON.parse(text);
      } catch {
        this.counts.badShape++;
      }
      expect(parsed, what).toMatchObject({ code: expect.any(String), message: expect.any(String), retryable: expect.any(Boolean) });
      expect(Object.keys(parsed).filter((k) => !['code', 'message', 'retryable', 'details'].includes(k)), what).toEqual([]);
      expect(await snapshot(this.sql), what).toEqual(before);
    }
  }
}
