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

function overflowingQuery(query: unknown): boolean {
  if (!query || typeof query !== 'object') return false;
  return Object.values(query).some((v) => typeof v === 'string' && /^\s*[-+]?[\d.]+e/i.test(v) && !Number.isFinite(Number(v)));
}

export function refuseNonFiniteNumbers(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    if (overflowingQuery(request.query) || hasNonFinite(request.body)) {
      throw new AppError('VALIDATION_FAILED', 'A number is out of range.');
    }
  });
}
