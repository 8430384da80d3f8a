import { ERRORS, type ErrorBody, type ErrorCode } from '@chat/protocol';

export { ERRORS, type ErrorCode };

/** A failure with a stable code from the catalog; safe to show to the client. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message?: string, details?: unknown) {
    super(message ?? ERRORS[code].message);
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message, retryable: ERRORS[this.code].retryable };
    if (this.details !== undefined) body.details = this.details;
    return body;
  }
}

export const forbidden = (message?: string) => new AppError('FORBIDDEN', message);
export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} not found.`);

const UNAVAILABLE_CODES = new Set([
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', '57P01', '57P02', '57P03', '53300',
  // Contention that outlived the in-statement retries: nothing was written, retrying is safe.
  '40P01', '40001',
]);

/**
 * Any thrown value → a catalog error. Database outages become UNAVAILABLE (retryable:
 * the send was not acknowledged, and a retry with the same clientMsgId is safe).
 * Anything else unexpected is INTERNAL, and `expected` is false so the caller logs it.
 */
export function toAppError(error: unknown): { error: AppError; expected: boolean } {
  if (error instanceof AppError) return { error, expected: true };
  const code = (error as { code?: unknown })?.code;
  // Text PostgreSQL cannot store (e.g. U+0000) in a field no schema screened.
  if (code === '22021' || code === '22P05') return { error: new AppError('VALIDATION_FAILED', 'The text contains characters that cannot be stored.'), expected: true };
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) {
    return { error: new AppError('UNAVAILABLE', 'The database is unavailable; retry shortly.'), expected: true };
  }
  return { error: new AppError('INTERNAL'), expected: false };
}
