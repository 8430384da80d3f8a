/** One error shape for every HTTP failure, from the shared catalog; 5xx details stay in the logs. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, toAppError, type ErrorCode } from '../errors.ts';
import type { Metrics } from '../metrics.ts';

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

/** Whole seconds of `details.retryAfterMs` when the error has it (at least 1), else 1. */
function retryAfterSec(details: unknown): number {
  const ms = (details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof ms === 'number' && Number.isFinite(ms) ? Math.max(1, Math.ceil(ms / 1000)) : 1;
}

export function registerErrorHandler(app: FastifyInstance, metrics: Metrics): void {
  app.setErrorHandler((thrown: FastifyError | AppError | Error, request, reply) => {
    let error: AppError;
    if (thrown instanceof AppError) {
      error = thrown;
    } else if ('validation' in thrown && thrown.validation) {
      const details = thrown.validation.slice(0, 5).map((v) => ({ path: v.instancePath || '/', message: v.message }));
      error = new AppError('VALIDATION_FAILED', thrown.message, details);
    } else if ('statusCode' in thrown && thrown.statusCode && BY_STATUS[thrown.statusCode]) {
      error = new AppError(BY_STATUS[thrown.statusCode]!, thrown.message);
    } else {
      const mapped = toAppError(thrown);
      error = mapped.error;
      if (!mapped.expected) request.log.error({ err: thrown }, 'request failed');
    }
    metrics.errorsSent.inc({ code: error.code, transport: 'http' });
    if (request.url === '/ws' || request.url.startsWith('/ws?')) metrics.rejectedUpgrades.inc({ code: error.code });
    if (error.code === 'RATE_LIMITED' || error.code === 'UNAVAILABLE') reply.header('retry-after', String(retryAfterSec(error.details)));
    return reply.status(error.status).send(error.toBody());
  });
  app.setNotFoundHandler((_request, reply) => reply.status(404).send(new AppError('NOT_FOUND', 'No such route.').toBody()));
}
