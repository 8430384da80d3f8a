/** Reconnect delays: exponential backoff with full jitter (as in centrifuge-js). */

export interface BackoffOptions {
  /** Cap of the first attempt; doubles per attempt. Default 1000 ms. */
  baseMs?: number;
  /** Largest cap. Default 30000 ms. */
  maxMs?: number;
  /** Source of randomness in [0, 1). Default Math.random. */
  random?: () => number;
}

/**
 * The upper bound of the delay before reconnect attempt `attempt` (0-based):
 * `min(maxMs, baseMs * 2^attempt)`.
 *
 * @example backoffCap(3) // 8000
 */
export function backoffCap(attempt: number, { baseMs = 1000, maxMs = 30_000 }: BackoffOptions = {}): number {
  // 2 ** 1100 is Infinity; min() keeps it at maxMs.
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
}

/**
 * Full jitter: a uniformly random delay in [0, backoffCap(attempt)], so that many
 * clients dropped at once do not come back at once.
 *
 * @example setTimeout(reconnect, backoffDelay(attempt++))
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const random = options.random ?? Math.random;
  return Math.floor(random() * backoffCap(attempt, options));
}
