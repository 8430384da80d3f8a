/**
 * ChatError: every failure the SDK reports, over HTTP and WebSocket alike. `code` is
 * one of the server's catalog codes (`ErrorCode` in @chat/protocol) or one of the
 * client-side codes below, which the server never sends.
 */
import { ERRORS, type ErrorCode } from '@chat/protocol';

/**
 * Client-side codes (all retryable):
 * - `TIMEOUT`: no `ack`/`error` (or HTTP response) within `requestTimeoutMs`.
 * - `NETWORK`: the HTTP request or the token provider failed before the server answered.
 * - `DISCONNECTED`: the socket was not connected, or closed before the answer came.
 * - `DISCARDED`: the outbox item was discarded with `client.discard()` (not retryable).
 */
export type ClientErrorCode = 'TIMEOUT' | 'NETWORK' | 'DISCONNECTED' | 'DISCARDED';
export type ChatErrorCode = ErrorCode | ClientErrorCode;

export const CLIENT_ERRORS: Record<ClientErrorCode, { retryable: boolean; message: string }> = {
  TIMEOUT: { retryable: true, message: 'The server did not answer in time.' },
  NETWORK: { retryable: true, message: 'The network request failed.' },
  DISCONNECTED: { retryable: true, message: 'Not connected.' },
  DISCARDED: { retryable: false, message: 'The message was discarded.' },
};

export class ChatError extends Error {
  override readonly name = 'ChatError';
  readonly code: ChatErrorCode;
  readonly retryable: boolean;
  readonly details: unknown;
  /** HTTP status, when the error came from an HTTP response. */
  readonly status: number | null;

  constructor(code: ChatErrorCode, message?: string, options: { retryable?: boolean; details?: unknown; status?: number | null } = {}) {
    super(message ?? defaultMessage(code));
    this.code = code;
    this.retryable = options.retryable ?? defaultRetryable(code);
    this.details = options.details;
    this.status = options.status ?? null;
  }

  /** From an HTTP error body or a WS error frame (`{code, message, retryable, details?}`). */
  static fromBody(body: unknown, status: number | null = null): ChatError {
    const b = (body ?? {}) as { code?: unknown; message?: unknown; retryable?: unknown; details?: unknown };
    const code = typeof b.code === 'string' && isKnownCode(b.code) ? b.code : codeForStatus(status);
    return new ChatError(code, typeof b.message === 'string' ? b.message : undefined, {
      retryable: typeof b.retryable === 'boolean' ? b.retryable : undefined,
      details: b.details,
      status,
    });
  }

  /** Anything thrown → a ChatError (unknown failures become NETWORK). */
  static from(error: unknown): ChatError {
    if (error instanceof ChatError) return error;
    return new ChatError('NETWORK', error instanceof Error ? error.message : String(error));
  }

  /** True for the codes that mean "the token is not (or no longer) good". */
  get isAuth(): boolean {
    return this.code === 'UNAUTHENTICATED' || this.code === 'SESSION_EXPIRED';
  }

  /** `details.retryAfterMs` of RATE_LIMITED errors, when the server gave one. */
  get retryAfterMs(): number | null {
    const value = (this.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
    return typeof value === 'number' && value >= 0 ? value : null;
  }

  toJSON(): { code: ChatErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isKnownCode(code: string): code is ChatErrorCode {
  return Object.hasOwn(ERRORS, code) || Object.hasOwn(CLIENT_ERRORS, code);
}

/** The catalog code for an HTTP status, for error bodies without one (a proxy's error page). */
export function codeForStatus(status: number | null): ErrorCode {
  switch (status) {
    case 401: return 'UNAUTHENTICATED';
    case 403: return 'FORBIDDEN';
    case 404: return 'NOT_FOUND';
    case 409: return 'CONFLICT';
    case 413: return 'PAYLOAD_TOO_LARGE';
    case 415: return 'UNSUPPORTED_MEDIA_TYPE';
    case 429: return 'RATE_LIMITED';
    case 502: case 503: case 504: return 'UNAVAILABLE';
    default: return status !== null && status >= 500 ? 'INTERNAL' : 'VALIDATION_FAILED';
  }
}

function defaultMessage(code: ChatErrorCode): string {
  return code in ERRORS ? ERRORS[code as ErrorCode].message : CLIENT_ERRORS[code as ClientErrorCode].message;
}

function defaultRetryable(code: ChatErrorCode): boolean {
  return code in ERRORS ? ERRORS[code as ErrorCode].retryable : CLIENT_ERRORS[code as ClientErrorCode].retryable;
}
