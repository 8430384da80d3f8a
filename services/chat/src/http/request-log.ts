/**
 * What a request log says about a request's URL. Query strings carry credentials
 * (`?token=`, for browsers on another origin), search terms and filenames, in any spelling
 * (`%74oken`, repeated keys, `;`), so the log never copies the raw query: it re-serializes
 * the query as the routes see it (parsed and percent-decoded by Fastify) and shows only
 * the values of a few known-harmless parameters (paging and ids). Everything else is
 * `[redacted]`, and a key that is not a plain name is redacted too.
 */

/** Paging and ids: the only query values a log may hold. */
const LOGGED_PARAMS = new Set(['limit', 'before', 'after', 'cursor', 'conversationId']);
const MAX_VALUE_CHARS = 64;
const MAX_PATH_CHARS = 256;
const PLAIN_KEY = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
const REDACTED = '[redacted]';
/** The scheme and authority (userinfo included) of an absolute-form target, `http://u:p@host`. */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

export function loggedUrl(rawUrl: string | undefined, query: unknown): string {
  if (!rawUrl) return '';
  const target = rawUrl.replace(ORIGIN, '');
  const end = target.search(/[?#]/);
  let path = end < 0 ? target : target.slice(0, end);
  if (path.length > MAX_PATH_CHARS) path = `${path.slice(0, MAX_PATH_CHARS)}…`;
  if (end < 0) return path;
  if (query === null || typeof query !== 'object') return `${path}?${REDACTED}`;
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    if (!PLAIN_KEY.test(key)) {
      parts.push(REDACTED);
      continue;
    }
    for (const item of Array.isArray(value) ? value : [value]) {
      const text = typeof item === 'string' || typeof item === 'number' ? String(item) : null;
      const shown = LOGGED_PARAMS.has(key) && text !== null && text.length <= MAX_VALUE_CHARS ? encodeURIComponent(text) : REDACTED;
      parts.push(`${key}=${shown}`);
    }
  }
  return parts.length > 0 ? `${path}?${parts.join('&')}` : path;
}
