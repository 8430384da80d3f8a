/**
 * The NATS bus's wire: subjects (no user id shapes one), one-record payloads in the PgBus
 * record format, the connection options NATS users expect, and the JetStream stream.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DiscardPolicy, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { credsAuthenticator, nanos, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { Signal, StreamEvent } from './bus.ts';

/** Frames larger than this travel by reference (receivers read the row). */
const MAX_INLINE_FRAME_BYTES = 16 * 1024;
/** JetStream keeps message ids this long for de-duplication; far above the relay's bound. */
const DUPLICATE_WINDOW_MS = 2 * 60_000;
/** The stream is a de-duplicating hand-off, not history (PostgreSQL is): keep a few minutes. */
const STREAM_MAX_AGE_MS = 10 * 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface NatsConnectionSettings {
  servers: string[];
  name: string;
  credsFile?: string | null;
  user?: string | null;
  pass?: string | null;
  token?: string | null;
  tls?: { caFile?: string; certFile?: string; keyFile?: string } | null;
  reconnectWaitMs?: number;
}

/** `c:<uuid>` → `<prefix>.<kind>.c.<uuid>`; `u:<user id>` → `<prefix>.<kind>.u.<hash>`. */
export function subjectFor(prefix: string, kind: 'ev' | 'sig' | '*', key: string): string {
  const id = key.slice(2);
  const token = key.startsWith('c:') && UUID.test(id) ? `c.${id.toLowerCase()}` : `${key.startsWith('c:') ? 'c' : 'u'}.${hashToken(id)}`;
  return `${prefix}.${kind}.${token}`;
}

export function connectionOptions(o: NatsConnectionSettings): NodeConnectionOptions {
  const options: NodeConnectionOptions = {
    servers: o.servers,
    name: `chat-${o.name}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: o.reconnectWaitMs ?? 250,
    reconnectJitter: 100,
    pingInterval: 10_000,
    maxPingOut: 3,
  };
  if (o.credsFile) options.authenticator = credsAuthenticator(readFileSync(o.credsFile));
  if (o.user) Object.assign(options, { user: o.user, pass: o.pass ?? '' });
  if (o.token) options.token = o.token;
  if (o.tls) options.tls = { ...o.tls };
  return options;
}

/** Creates the stream when it is missing; an operator's existing stream is left as configured. */
export async function ensureStream(nc: NatsConnection, { stream, subjectPrefix, streamReplicas }: { stream: string; subjectPrefix: string; streamReplicas: number }): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(stream);
    return;
  } catch (error) {
    if (!String((error as Error).message).toLowerCase().includes('not found')) throw error;
  }
  await jsm.streams.add({
    name: stream,
    subjects: [`${subjectPrefix}.ev.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: streamReplicas,
    max_age: nanos(STREAM_MAX_AGE_MS),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  });
}

function hashToken(id: string): string {
  return createHash('sha256').update(id).digest('base64url').slice(0, 22);
}

export function eventRecord(event: StreamEvent): string {
  const access = event.access === null ? null : event.access.kind === 'removed' ? ['removed', event.access.userId] : ['closed'];
  if (event.frame !== null && Buffer.byteLength(event.frame) <= MAX_INLINE_FRAME_BYTES) {
    return JSON.stringify(['e', event.conversationId, event.seq, event.frame, access]);
  }
  return JSON.stringify(['e', event.conversationId, event.seq, null, access]);
}

export function signalRecord(signal: Signal): string {
  return JSON.stringify(['s', signal.target, signal.exclude, signal.frame]);
}

/** The target of a stored signal record, or null if it is not one. */
export function signalTarget(record: string): string | null {
  try {
    const value = JSON.parse(record) as unknown;
    return Array.isArray(value) && value[0] === 's' && typeof value[1] === 'string' ? value[1] : null;
  } catch {
    return null;
  }
}
