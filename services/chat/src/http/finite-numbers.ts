/**
 * JSON and query strings can spell numbers that overflow to Infinity ("1e309"). Ajv's
 * integer coercion lets those through its range checks, and PostgreSQL then refuses
 * them; they are refused here, before validation, as the typed error they are.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.ts';

const MAX_DEPTH = 32;

function hasNonFinite(value: unknown, depth = 0): boolean {
  if (typeof value === 'number') return !Number.isFinite(value);
  // Raw uploads arrive as Buffers: bytes, not JSON numbers.
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return false;
  return Object.values(value).some((v) => hasNonFinite(v, depth + 1));
}

/** A complete decimal literal ("12", "-1.5", "1e309"), not merely a string that starts with digits. */
const NUMERIC = /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i;

/** Names of the query parameters a route's schema types as numbers: only those are coerced. */
const numericKeysBySchema = new WeakMap<object, string[]>();
function numericQueryKeys(schema: unknown): string[] {
  if (!schema || typeof schema !== 'object') return [];
  let keys = numericKeysBySchema.get(schema);
  if (!keys) {
    const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
    keys = Object.keys(properties).filter((k) => properties[k]?.type === 'integer' || properties[k]?.type === 'number');
    numericKeysBySchema.set(schema, keys);
  }
  return keys;
}

function overflowingQuery(query: unknown, schema: unknown): boolean {
  if (!query || typeof query !== 'object') return false;
  return numericQueryKeys(schema).some((key) => {
    const v = (query as Record<string, unknown>)[key];
    return typeof v === 'string' && NUMERIC.test(v) && !Number.isFinite(Number(v));
  });
}

export function refuseNonFiniteNumbers(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    if (overflowingQuery(request.query, request.routeOptions.schema?.querystring) || hasNonFinite(request.body)) {
      throw new AppError('VALIDATION_FAILED', 'A number is out of range.');
    }
  });
}
