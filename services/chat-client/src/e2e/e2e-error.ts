/** What the e2e functions throw for a caller's mistake or a refused directory (open() never throws: it returns a reason). */
export type E2EErrorCode =
  /** A recipient bundle's signature or shape does not check: the directory served a forged or altered bundle. */
  | 'UNVERIFIABLE_BUNDLE'
  /** The header's senderId is not the device's user. */
  | 'WRONG_SENDER'
  /** The sealed envelope would exceed LIMITS.maxEnvelopeChars. */
  | 'TOO_LARGE'
  /** onKeyChange refused to send to a changed device list. */
  | 'KEYS_NOT_ACCEPTED'
  /** The service still reports KEYS_CHANGED after refetching the keys a few times. */
  | 'KEYS_UNSETTLED';

export class E2EError extends Error {
  override readonly name = 'E2EError';
  constructor(
    readonly code: E2EErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}
