/**
 * Shared pieces of the load tooling: bounds, the loopback-only rule, small helpers.
 * Every scenario is bounded in clients and time and stops by itself.
 */
import { fileURLToPath } from 'node:url';

/** Hard ceilings, whatever the options say. */
export const LIMITS = {
  maxClients: 20_000,
  maxDurationSec: 600,
  maxRate: 50_000,
  maxRoomSize: 500,
} as const;

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

const LOOPBACK_HOSTS = new Set(['localhost', '::1', '[::1]']);

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (LOOPBACK_HOSTS.has(host)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Refuses anything that is not on this machine's loopback (traffic must never leave the box). */
export function assertLoopbackUrl(raw: string, what = 'target'): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${what} ${JSON.stringify(raw)} is not a URL`);
  }
  if (!isLoopbackHost(url.hostname)) {
    throw new UsageError(`${what} ${raw}: only loopback hosts are accepted (127.0.0.1, localhost, ::1)`);
  }
  return url;
}

export class UsageError extends Error {}

/** ws://host:port/ws → http://host:port */
export function httpBase(target: string): string {
  const url = new URL(target);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = '';
  url.search = '';
  return url.toString().replace(/\/$/, '');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** Runs tasks with at most `limit` in flight; resolves with results in order (settled). */
export async function pool<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= items.length) return;
      try {
        results[index] = { status: 'fulfilled', value: await task(items[index]!, index) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Milliseconds with sub-ms precision on one clock for the whole generator process. */
export const now = () => performance.now();

export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
