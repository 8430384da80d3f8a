/** Fastify preValidation hooks: who is calling (HTTP and the WebSocket upgrade alike). */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';
import { findCredential, type Credential } from './credentials.ts';
import type { Identity, SessionTokenVerifier } from './session-token.ts';

declare module 'fastify' {
  interface FastifyRequest {
    identity: Identity;
    credentialSource: Credential['source'];
  }
}

export function authenticator(verifier: SessionTokenVerifier, ensureUser: (identity: Identity) => Promise<void>) {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const credential = findCredential(request.headers, request.query);
    if (!credential) throw new AppError('UNAUTHENTICATED');
    // The cookie name binds the token: only tokens issued for that cookie are accepted there.
    request.identity = await verifier.verify(credential.token, credential.source === 'cookie' ? (credential.cookieName ?? '') : undefined);
    request.credentialSource = credential.source;
    await ensureUser(request.identity);
  };
}

/**
 * Cross-site WebSocket hijacking: a browser attaches cookies to a socket opened by
 * any page, so cookie-authenticated upgrades must come from an allowed origin
 * (the configured list, or the service's own host).
 */
export function originGuard(allowedOrigins: string[]) {
  const allowed = new Set(allowedOrigins.map((o) => o.toLowerCase()));
  return async function checkOrigin(request: FastifyRequest): Promise<void> {
    if (request.credentialSource !== 'cookie') return;
    const origin = request.headers.origin?.toLowerCase();
    if (origin === undefined) return; // not a browser: nothing to hijack
    if (allowed.has(origin)) return;
    let host: string | null = null;
    try {
      host = new URL(origin).host;
    } catch {
      // an unparsable origin is refused below
    }
    if (host !== null && host === request.headers.host?.toLowerCase()) return;
    throw new AppError('ORIGIN_NOT_ALLOWED');
  };
}
