/**
 * Where a request's session token comes from, in order: `Authorization: Bearer`,
 * a `bearer.<token>` WebSocket subprotocol, the `token` query parameter (both for
 * browsers on another origin), then the storefront's session cookie (possibly chunked).
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface Credential {
  token: string;
  source: 'bearer' | 'subprotocol' | 'query' | 'cookie';
  /** The cookie name, which Auth.js v5 uses as the key-derivation salt. */
  cookieName?: string;
}

export const SUBPROTOCOL = 'chat.v1';
const SUBPROTOCOL_TOKEN_PREFIX = 'bearer.';

const COOKIE_NAMES = [
  '__Secure-authjs.session-token',
  'authjs.session-token',
  '__Secure-next-auth.session-token',
  'next-auth.session-token',
];

export function findCredential(headers: IncomingHttpHeaders, query: unknown): Credential | null {
  const authorization = headers.authorization;
  if (authorization?.toLowerCase().startsWith('bearer ')) {
    return { token: authorization.slice(7).trim(), source: 'bearer' };
  }
  const protocols = headers['sec-websocket-protocol'];
  if (typeof protocols === 'string') {
    for (const protocol of protocols.split(',')) {
      const value = protocol.trim();
      if (value.startsWith(SUBPROTOCOL_TOKEN_PREFIX)) {
        return { token: value.slice(SUBPROTOCOL_TOKEN_PREFIX.length), source: 'subprotocol' };
      }
    }
  }
  const queryToken = (query as { token?: unknown } | undefined)?.token;
  if (typeof queryToken === 'string' && queryToken.length > 0) return { token: queryToken, source: 'query' };

  const cookies = parseCookies(headers.cookie);
  for (const name of COOKIE_NAMES) {
    const token = cookies.get(name) ?? joinChunks(cookies, name);
    if (token) return { token, source: 'cookie', cookieName: name };
  }
  return null;
}

/** NextAuth splits large tokens into `<name>.0`, `<name>.1`, … cookies. */
function joinChunks(cookies: Map<string, string>, name: string): string | null {
  let token = '';
  for (let i = 0; cookies.has(`${name}.${i}`); i++) token += cookies.get(`${name}.${i}`);
  return token || null;
}

function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      cookies.set(name, decodeURIComponent(value));
    } catch {
      cookies.set(name, value);
    }
  }
  return cookies;
}
