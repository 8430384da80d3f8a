/** What a WebSocket close means, as a ChatError for `state.lastError`. */
import { ChatError, isKnownCode, type ChatErrorCode } from './errors.ts';

const BY_CLOSE_CODE: Record<number, ChatErrorCode> = {
  1003: 'UNSUPPORTED_FRAME',
  1009: 'PAYLOAD_TOO_LARGE',
  1011: 'INTERNAL',
  1012: 'SHUTTING_DOWN',
  1013: 'UNAVAILABLE',
  4008: 'SLOW_CONSUMER',
  4401: 'UNAUTHENTICATED',
  4403: 'FORBIDDEN',
  4408: 'HEARTBEAT_TIMEOUT',
  4429: 'RATE_LIMITED',
};

/** The server's close reasons read `CODE: message`; otherwise the close code decides. */
export function errorFromClose(code: number, reason: string): ChatError {
  const match = /^([A-Z_]+): ([\s\S]*)$/.exec(reason);
  if (match && isKnownCode(match[1]!)) return new ChatError(match[1] as ChatErrorCode, match[2]);
  const mapped = BY_CLOSE_CODE[code];
  if (mapped) return new ChatError(mapped, reason || undefined);
  return new ChatError('DISCONNECTED', `The connection closed (code ${code}${reason ? `: ${reason}` : ''}).`);
}
