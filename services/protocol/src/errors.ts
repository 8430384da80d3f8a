/**
 * The one error catalog. HTTP responses, WebSocket error frames and WebSocket
 * close codes all come from here; docs/protocol.md lists every entry and a test
 * keeps the two in sync.
 */
export const ERRORS = {
  UNAUTHENTICATED: { status: 401, close: 4401, retryable: false, message: 'A valid session token is required.' },
  SESSION_EXPIRED: { status: 401, close: 4401, retryable: false, message: 'The session token expired; sign in again or refresh it.' },
  FORBIDDEN: { status: 403, close: 4403, retryable: false, message: 'You are not allowed to do this.' },
  ORIGIN_NOT_ALLOWED: { status: 403, close: 4403, retryable: false, message: 'This origin may not open a socket with cookie credentials.' },
  NOT_FOUND: { status: 404, close: null, retryable: false, message: 'No such resource.' },
  VALIDATION_FAILED: { status: 400, close: null, retryable: false, message: 'The request is not valid.' },
  INVALID_FRAME: { status: 400, close: null, retryable: false, message: 'The frame is not a valid protocol frame.' },
  UPGRADE_REQUIRED: { status: 426, close: null, retryable: false, message: 'This endpoint speaks WebSocket only.' },
  UNSUPPORTED_FRAME: { status: 400, close: null, retryable: false, message: 'Binary frames are not supported.' },
  PAYLOAD_TOO_LARGE: { status: 413, close: 1009, retryable: false, message: 'The payload is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, close: null, retryable: false, message: 'This content type is not accepted.' },
  CONFLICT: { status: 409, close: null, retryable: false, message: 'The request conflicts with the current state.' },
  KEYS_CHANGED: { status: 409, close: null, retryable: false, message: "The conversation's devices changed; fetch the keys again and re-seal." },
  EDIT_WINDOW_CLOSED: { status: 409, close: null, retryable: false, message: 'The message can no longer be edited.' },
  RATE_LIMITED: { status: 429, close: 4429, retryable: true, message: 'Too many requests; slow down.' },
  TOO_MANY_CONNECTIONS: { status: 429, close: 4429, retryable: true, message: 'Too many open connections.' },
  SLOW_CONSUMER: { status: 503, close: 4008, retryable: true, message: 'The client did not read fast enough; reconnect and resume.' },
  HEARTBEAT_TIMEOUT: { status: 408, close: 4408, retryable: true, message: 'No heartbeat from the client; reconnect and resume.' },
  UNAVAILABLE: { status: 503, close: 1013, retryable: true, message: 'The service is temporarily unavailable; retry.' },
  SHUTTING_DOWN: { status: 503, close: 1012, retryable: true, message: 'This instance is restarting; reconnect and resume.' },
  INTERNAL: { status: 500, close: 1011, retryable: true, message: 'Internal error.' },
} as const satisfies Record<string, ErrorSpec>;

export interface ErrorSpec {
  /** HTTP status for HTTP responses. */
  status: number;
  /** WebSocket close code when this error ends a connection, or null when it never does. */
  close: number | null;
  /** Whether retrying the same request later can succeed. */
  retryable: boolean;
  message: string;
}

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/** The body of every HTTP error response and the payload of every WS error frame. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  details?: unknown;
}

/**
 * Close codes grouped by what a client should do next (centrifuge-style):
 * 4401/4403 stop and re-authenticate; 1009/1003 fix the client; the rest reconnect
 * with backoff and resume.
 */
export const CLOSE_CODES = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  SLOW_CONSUMER: 4008,
  UNAUTHENTICATED: 4401,
  FORBIDDEN: 4403,
  HEARTBEAT_TIMEOUT: 4408,
  RATE_LIMITED: 4429,
} as const;

/** Close codes after which reconnecting cannot help: re-authenticate, or fix the client. */
const TERMINAL_CLOSE_CODES = new Set([1002, 1003, 1007, 1009, 4401, 4403]);

/** True when a client should reconnect (with backoff) after this close code. */
export function shouldReconnect(closeCode: number): boolean {
  return !TERMINAL_CLOSE_CODES.has(closeCode);
}
