/**
 * The session token for the chat service, from the storefront's /api/chat-token
 * (the session cookie is httpOnly, so the page cannot read it itself). Cached briefly
 * and shared between concurrent callers; `refresh` bypasses the cache.
 */
export class SignedOutError extends Error {
  constructor() {
    super('Signed out: sign in to chat.');
  }
}

const FRESH_MS = 60_000;

export function createTokenSource(endpoint = '/api/chat-token') {
  let cached: { token: string; at: number } | null = null;
  let inflight: Promise<string> | null = null;

  async function load(): Promise<string> {
    const response = await fetch(endpoint, { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'application/json' } });
    if (response.status === 401) throw new SignedOutError();
    if (!response.ok) throw new Error(`The chat token endpoint answered ${response.status}.`);
    const body = (await response.json()) as { token?: unknown };
    if (typeof body.token !== 'string' || body.token === '') throw new Error('The chat token endpoint returned no token.');
    cached = { token: body.token, at: Date.now() };
    return body.token;
  }

  function getToken(options: { refresh?: boolean } = {}): Promise<string> {
    if (!options.refresh && cached && Date.now() - cached.at < FRESH_MS) return Promise.resolve(cached.token);
    inflight ??= load().finally(() => {
      inflight = null;
    });
    return inflight;
  }

  return getToken;
}
