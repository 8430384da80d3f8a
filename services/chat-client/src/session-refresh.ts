/**
 * Keeps an open socket's session alive: shortly before the token expires, ask
 * getToken() for a newer one and send it in `auth.refresh`. When the token has not
 * changed yet, ask again a little later; if it never does, the server closes the
 * socket with 4401 at expiry and the client handles that.
 */
import type { RefreshResult } from '@chat/protocol';

const LEAD_MS = 60_000;
const RECHECK_MS = 15_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SessionRefresher {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private token: string | null = null;
  private generation = 0;

  constructor(
    private readonly getToken: () => Promise<string> | string,
    private readonly refresh: (token: string) => Promise<RefreshResult>,
  ) {}

  /** On `ready`: the socket's session ends at `expiresAt` (ISO) unless refreshed. */
  start(expiresAt: string | null, token: string): void {
    this.stop();
    this.token = token;
    this.schedule(expiresAt);
  }

  stop(): void {
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(expiresAt: string | null): void {
    const expires = expiresAt ? Date.parse(expiresAt) : NaN;
    if (Number.isNaN(expires)) return;
    const delay = Math.max(0, expires - LEAD_MS - Date.now());
    if (delay > MAX_TIMER_MS) return; // re-armed by the next ready or refresh
    this.timer = setTimeout(() => void this.run(expires), delay);
  }

  private async run(expires: number): Promise<void> {
    this.timer = null;
    const generation = this.generation;
    let token: string | null = null;
    try {
      token = await this.getToken();
    } catch {
      // try again below
    }
    if (generation !== this.generation) return;
    if (token && token !== this.token) {
      try {
        const result = await this.refresh(token);
        if (generation !== this.generation) return;
        this.token = token;
        return this.schedule(result.sessionExpiresAt);
      } catch {
        if (generation !== this.generation) return;
      }
    }
    if (Date.now() < expires) this.timer = setTimeout(() => void this.run(expires), RECHECK_MS);
  }
}
