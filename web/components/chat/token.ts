/**
 * The chat credential for the chat service, from the storefront's /api/chat-token (a
 * short-lived token minted for this page; the session cookie itself is httpOnly and never
 * leaves it). Reused while more than half its lifetime is left, then fetched anew, so
 * every caller (a new socket, an HTTP call, the SDK's `auth.refresh` shortly before the
 * socket's session ends) gets one with time to spare. Shared between concurrent callers;
 * `refresh` bypasses the cache.
 */
export class SignedOutError extends Error {
  constructor() {
    super('Signed out: sign in to chat.');
  }
}

interface Cached {
  token: string;
  /** Local clock (the server's may differ): when to fetch a new one. */
  staleAt: number;
}

/** Used when the endpoint does not say how long its token lives. */
const DEFAULT_FRESH_MS = 60_000;

export function createTokenSource(endpoint = '/api/chat-token', now: () => number = Date.now) {
  let cached: Cached | null = null;
  let inflight: Promise<string> | null = null;

  async function load(): Promise<string> {
    const fetchedAt = now();
    const response = await fetch(endpoint, { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'application/json' } });
    if (response.status === 401) {
      cached = null;
      throw new SignedOutError();
    }
    if (!response.ok) throw new Error(`The chat token endpoint answered ${response.status}.`);
    const body = (await response.json()) as { token?: unknown; expiresIn?: unknown };
    if (typeof body.token !== 'string' || body.token === '') throw new Error('The chat token endpoint returned no token.');
    const lifetimeMs = typeof body.expiresIn === 'number' && body.expiresIn > 0 ? body.expiresIn * 1000 : 2 * DEFAULT_FRESH_MS;
    cached = { token: body.token, staleAt: fetchedAt + lifetimeMs / 2 };
    return body.token;
  }

  function getToken(options: { refresh?: boolean } = {}): Promise<string> {
    if (!options.refresh && cached && now() < cached.staleAt) return Promise.resolve(cached.token);
    inflight ??= load().finally(() => {
      inflight = null;
    });
    return inflight;
  }

  return getToken;
}
