/**
 * Checks a browser's PushSubscription before it is stored. The service will POST to the
 * endpoint, so only push services' hosts are accepted (PUSH_ENDPOINT_HOSTS), over https on the
 * default port; http:// on a loopback address only with the test flag. The keys must be what
 * RFC 8291 needs: a point on P-256 and a 16-byte secret.
 */
import { createPublicKey } from 'node:crypto';
import type { PushConfig } from '../config.ts';
import { AppError } from '../errors.ts';

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

function invalid(message: string, field: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { field });
}

function hostAllowed(host: string, allowed: string[]): boolean {
  return allowed.some((entry) => (entry.startsWith('*.') ? host.endsWith(entry.slice(1)) && host.length > entry.length - 1 : host === entry));
}

/** The endpoint as stored (normalized by the URL parser), or VALIDATION_FAILED. */
export function checkEndpoint(config: PushConfig, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('The endpoint is not a URL.', 'endpoint');
  }
  if (url.username || url.password) throw invalid('The endpoint may not carry credentials.', 'endpoint');
  const host = url.hostname.toLowerCase();
  if (config.allowLoopbackHttp && LOOPBACK.has(host) && (url.protocol === 'http:' || url.protocol === 'https:')) return url.href;
  if (url.protocol !== 'https:') throw invalid('The endpoint must be an https URL.', 'endpoint');
  if (url.port !== '') throw invalid("The endpoint must use https's default port.", 'endpoint');
  if (!hostAllowed(host, config.endpointHosts)) throw invalid('The endpoint is not a known push service.', 'endpoint');
  return url.href;
}

function decode(value: string): Buffer {
  return Buffer.from(value.replace(/=+$/, ''), 'base64url');
}

/** The browser's keys, re-encoded as unpadded base64url, or VALIDATION_FAILED. */
export function checkKeys(keys: { p256dh: string; auth: string }): { p256dh: string; auth: string } {
  const point = decode(keys.p256dh);
  if (point.length !== 65 || point[0] !== 0x04) throw invalid('keys.p256dh must be an uncompressed P-256 point (65 bytes).', 'keys.p256dh');
  try {
    createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') }, format: 'jwk' });
  } catch {
    throw invalid('keys.p256dh is not a point on P-256.', 'keys.p256dh');
  }
  const auth = decode(keys.auth);
  if (auth.length !== 16) throw invalid('keys.auth must be 16 bytes.', 'keys.auth');
  return { p256dh: point.toString('base64url'), auth: auth.toString('base64url') };
}
