/**
 * The OpenAPI document is generated from the routes (src/http/openapi.ts). Against a real
 * instance: it is a valid OpenAPI 3.1 document; it lists every route the server answers,
 * with its methods; every operation declares its responses with schemas (a route added
 * without a schema fails here), the error responses that apply, and the error catalog's
 * body on each; its security matches what the server enforces; and /openapi.json and
 * /docs are public (under the per-address limit), with a CSP relaxed for the page only.
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import { ERROR_CODES, ERRORS } from '@chat/protocol';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';

interface Response {
  description?: string;
  content?: Record<string, { schema?: Record<string, any> }>;
}
interface Operation {
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: unknown[];
  requestBody?: unknown;
  responses: Record<string, Response>;
}
interface Document {
  openapi: string;
  tags: { name: string }[];
  security: Record<string, string[]>[];
  components: { schemas: Record<string, any>; securitySchemes: Record<string, any> };
  paths: Record<string, Record<string, Operation>>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let db: TestDatabase;
let instance: Instance;
let doc: Document;

beforeAll(async () => {
  db = await createTestDatabase();
  instance = await startInstance(db.url);
  const response = await fetch(`${instance.http}/openapi.json`);
  expect(response.status).toBe(200);
  doc = (await response.json()) as Document;
});

afterAll(async () => {
  await instance?.close();
  await db?.drop();
});

/** `METHOD /path/:param` for every route of the server, read from Fastify's own route tree. */
function servedRoutes(tree: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    for (const method of match[3]?.split(', ') ?? []) routes.push(`${method} ${stack.join('')}`);
  }
  return routes;
}

/** `METHOD /path/:param` for every operation of the document. */
function documentedRoutes(): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
  );
}

function operations(): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ method: method.toUpperCase(), path, op: item[method]! })),
  );
}

/** The error responses a route must document, from what its door and its inputs can refuse. */
function requiredErrors(method: string, path: string, op: Operation): string[] {
  if (path === '/ws') return ['401', '403', '426', '429', '503'];
  if (!path.startsWith('/v1/')) return [];
  // Authenticated (a database read) and charged a cost before any work.
  const required = ['401', '429', '503'];
  if (op.parameters?.length || op.requestBody) required.push('400');
  // A conversation's membership, or the Origin check of a cookie-authenticated write.
  if (path.includes('{id}') || method !== 'GET') required.push('403');
  if (path.includes('{messageId}') || path.includes('{userId}')) required.push('404');
  return required;
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it('lists every route the server answers, with its methods', () => {
    const served = servedRoutes(instance.chat.app.printRoutes({ commonPrefix: false }));
    const hasGet = new Set(served.filter((r) => r.startsWith('GET ')).map((r) => r.slice(4)));
    const expected = served.filter(
      (route) =>
        // Swagger UI's own page and files.
        !/^\w+ \/docs(\/|$)/.test(route) &&
        // CORS preflights (@fastify/cors).
        route !== 'OPTIONS *' &&
        // Fastify answers HEAD for every GET.
        !(route.startsWith('HEAD ') && hasGet.has(route.slice(5))),
    );
    expect(expected.length).toBeGreaterThan(30);
    const documented = documentedRoutes();
    expect(expected.filter((route) => !documented.includes(route))).toEqual([]);
    expect(documented.filter((route) => !expected.includes(route))).toEqual([]);
  });

  it('gives every operation a summary, a declared tag and a success response with its schema', () => {
    const tags = new Set(doc.tags.map((t) => t.name));
    const problems: string[] = [];
    for (const { method, path, op } of operations()) {
      const where = `${method} ${path}`;
      if (!op.summary) problems.push(`${where}: no summary`);
      if (!op.tags?.length || op.tags.some((t) => !tags.has(t))) problems.push(`${where}: tags ${JSON.stringify(op.tags)} not declared`);
      const successes = Object.keys(op.responses).filter((s) => /^[123]\d\d$/.test(s));
      if (successes.length === 0) problems.push(`${where}: no success response`);
      // A route without a response schema is documented as a bare 200 without content.
      for (const status of successes.filter((s) => s !== '101' && s !== '204')) {
        const content = Object.values(op.responses[status]!.content ?? {});
        if (content.length === 0 || content.some((c) => !c.schema)) problems.push(`${where}: ${status} has no schema`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('documents the error responses that apply, each with the error catalog body', () => {
    const catalog = doc.components.schemas.Error;
    expect(catalog.properties.code.enum).toEqual(ERROR_CODES);
    expect(catalog.required).toEqual(expect.arrayContaining(['code', 'message', 'retryable']));
    const problems: string[] = [];
    for (const { method, path, op } of operations()) {
      const where = `${method} ${path}`;
      const missing = requiredErrors(method, path, op).filter((status) => !op.responses[status]);
      if (missing.length) problems.push(`${where}: no ${missing.join(', ')}`);
      if (!op.responses.default) problems.push(`${where}: no default response`);
      for (const [status, response] of Object.entries(op.responses)) {
        if (status !== 'default' && Number(status) < 400) continue;
        // The readiness report answers 503 with its checks, for load balancers.
        if (where === 'GET /readyz' && status === '503') continue;
        const schema = response.content?.['application/json']?.schema;
        const ref = schema?.$ref ?? schema?.allOf?.[0]?.$ref;
        if (ref !== '#/components/schemas/Error') {
          problems.push(`${where}: ${status} is not the catalog's body`);
          continue;
        }
        const codes: string[] = schema?.allOf?.[1]?.properties?.code?.enum ?? [];
        if (status !== 'default' && codes.length === 0) problems.push(`${where}: ${status} names no catalog code`);
        const wrong = codes.filter((code) => ERRORS[code as keyof typeof ERRORS]?.status !== Number(status));
        if (wrong.length) problems.push(`${where}: ${status} lists ${wrong.join(', ')}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('says which routes need credentials, as the server enforces them', async () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const mismatches: string[] = [];
    for (const { method, path, op } of operations()) {
      const secured = (op.security ?? doc.security).length > 0;
      const url = path
        .replace('{emoji}', encodeURIComponent('👍'))
        .replace('{userId}', 'someone')
        .replace(/\{\w+\}/g, () => randomUUID());
      // No credentials at all: only secured routes may refuse with 401.
      const response = await instance.chat.app.inject({ method: method as 'GET', url });
      if ((response.statusCode === 401) !== secured) mismatches.push(`${method} ${path}: ${secured ? 'secured' : 'public'}, answered ${response.statusCode}`);
    }
    expect(mismatches).toEqual([]);
  });
});

describe('the documentation endpoints', () => {
  it('/openapi.json and /docs need no credentials; only the page gets a CSP that lets it run', async () => {
    const json = await fetch(`${instance.http}/openapi.json`);
    await json.arrayBuffer();
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    // Public, but under the per-address limit like any route.
    expect(json.headers.get('x-ratelimit-limit')).not.toBeNull();
    expect(json.headers.get('content-security-policy')).toMatch(/default-src 'none'/);

    const page = await fetch(`${instance.http}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe-');
    const html = await page.text();
    for (const asset of html.match(/(?<=(?:src|href)=")[^"]+(?=")/g) ?? []) {
      const response = await fetch(new URL(asset, `${instance.http}/docs`));
      await response.arrayBuffer();
      expect(response.status, asset).toBe(200);
    }
    // The document the page loads is this one.
    expect(await (await fetch(`${instance.http}/docs/json`)).json()).toEqual(doc);

    // The rest of the API keeps its own policy.
    const api = await fetch(`${instance.http}/v1/me`);
    await api.arrayBuffer();
    expect(api.status).toBe(401);
    expect(api.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
  });
});
