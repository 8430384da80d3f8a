/**
 * The only place that reads process.env. Validated once, typed, frozen.
 * Every variable is documented in the README.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConversationEventType } from '@chat/protocol';

export interface Config {
  host: string;
  port: number;
  /** Null: start the embedded PostgreSQL under dataDir. */
  databaseUrl: string | null;
  dataDir: string;
  /** Port of the embedded PostgreSQL (0: any free port). */
  embeddedPgPort: number;
  migrateOnStart: boolean;
  /** Insert the demo users and lobby at start-up (default on the embedded database). */
  seedDemo: boolean;
  dbPoolSize: number;
  /** Session secrets, newest first; every one is accepted (rotation). */
  authSecrets: string[];
  /** True when no secret was configured and the development secret is in use (never in production). */
  usingDevSecret: boolean;
  /** Clock tolerance for exp/nbf, seconds. */
  clockToleranceSec: number;
  /** Longest session a storefront session token opens: it ends at its exp, and at most this long after its iat. */
  maxSessionAgeSec: number;
  /** Chat credentials (the storefront's short-lived tokens for its pages) living longer than this are refused. */
  chatCredentialMaxTtlSec: number;
  /** Origins allowed to open a socket with cookie credentials and to call /v1 cross-origin (CORS, bearer tokens); empty: same host only, no CORS. */
  allowedOrigins: string[];
  /** Token claim holding the system role ('owner' | 'admin'). */
  systemRoleClaim: string;
  heartbeatMs: number;
  /** Presence rows live this long without a refresh; instances refresh and sweep every presenceHeartbeatMs. */
  presenceTtlSec: number;
  presenceHeartbeatMs: number;
  /** First delay before the fan-out listener reconnects (doubles per attempt, jittered). */
  listenerRetryMs: number;
  maxFrameBytes: number;
  maxBodyChars: number;
  /** Bytes queued to one socket before it is cut off as a slow consumer. */
  maxSocketBufferBytes: number;
  /**
   * Sends waiting before a second send batch is pipelined behind a running one; fewer wait
   * and join the next batch (a call has a fixed database cost, so bigger batches cost less
   * per message). 1 pipelines at once.
   */
  sendPipelineAt: number;
  /**
   * Sends (and reactions) per user, counted per instance: sendRatePerSec every second,
   * and up to sendBurst at once (the extra over the rate refills over sendBurst / rate s).
   */
  sendRatePerSec: number;
  sendBurst: number;
  /**
   * Database work per user, counted per instance in points (a read 1, a write 4, a search 4,
   * a resume 2 + the conversations it names): dbWorkPerSec every second, up to dbWorkBurst at
   * once, like sends. Every frame and /v1 route other than sends, reactions and typing is charged here.
   */
  dbWorkPerSec: number;
  dbWorkBurst: number;
  /** New groups per user per hour, per instance. */
  groupCreatesPerHour: number;
  maxConnectionsPerUser: number;
  /** Which proxies to trust for the client address (X-Forwarded-For): false, true, a hop count or addresses/CIDRs. */
  trustProxy: boolean | number | string[];
  /** WebSocket upgrades per client IP per minute. */
  connectsPerIpPerMin: number;
  /** HTTP requests per client IP per minute (all /v1 routes together). */
  httpRatePerMin: number;
  editWindowSec: number;
  logLevel: string;
  instanceId: string;
  /** Grace period for in-flight work on SIGTERM, ms. */
  drainMs: number;
  /** Time to receive a request's headers, ms (the first request of a connection counts from its opening). */
  httpHeadersTimeoutMs: number;
  /** Time to receive a whole request, headers and body, ms (at least httpHeadersTimeoutMs). */
  httpRequestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long, ms. */
  httpKeepAliveTimeoutMs: number;
  /** A connection with no bytes in either direction for this long is closed, ms (before any upgrade completes; upgraded sockets have the heartbeat). */
  httpIdleTimeoutMs: number;
  /** Largest attachment upload, bytes (the body is buffered in memory before it is stored). */
  maxAttachmentBytes: number;
  /**
   * Largest audio attachment (a voice message), bytes: the bound on its length. The panel records
   * Opus at 32 kbit/s, so the default 1 MiB is about 4 minutes 20 seconds.
   */
  maxVoiceBytes: number;
  /** Content types (lower-case media types, no parameters) accepted for attachments. */
  attachmentTypes: string[];
  /** Root folder of the local-disk attachment store; shared by all instances when there are several. */
  attachmentsDir: string;
  /** The fan-out bus: PostgreSQL LISTEN/NOTIFY (default) or NATS JetStream, routed by interest. */
  bus: 'pg' | 'nats';
  nats: NatsConfig;
  /** Web Push to offline members (push/); null unless VAPID keys are configured. */
  push: PushConfig | null;
  /** Signed webhooks to the storefront's backend (webhooks/). */
  webhooks: WebhooksConfig;
}

export interface WebhookEndpoint {
  /** Names the endpoint in jobs, metrics and dead letters: letters, digits, _ and -. */
  id: string;
  url: string;
  /** Standard Webhooks secrets (`whsec_<base64>`), newest first: each signs every request (rotation). */
  secrets: string[];
  events: WebhookEventType[];
}

/** The webhook catalog: every change to a conversation, by its stream type (docs/webhooks.md). */
export const WEBHOOK_EVENT_TYPES = [
  'message.created',
  'message.edited',
  'message.deleted',
  'reaction.added',
  'reaction.removed',
  'member.added',
  'member.removed',
  'member.role_changed',
  'conversation.updated',
  'conversation.deleted',
  'read',
  'delivered',
] as const satisfies readonly ConversationEventType[];
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface WebhooksConfig {
  endpoints: WebhookEndpoint[];
  /** The first retry of a failing event waits this long; each further failure doubles it. */
  retryBaseMs: number;
  /** The longest wait between two attempts. */
  retryMaxMs: number;
  /** An event that still fails this long after it happened is dead-lettered, and the next one's turn comes. */
  deadLetterAfterMs: number;
}

export interface PushConfig {
  /** VAPID key pair (RFC 8292), base64url: the uncompressed P-256 public point and the private scalar. */
  vapidPublicKey: string;
  vapidPrivateKey: string;
  /** `mailto:` or `https:` contact for the push services. */
  vapidSubject: string;
  /** A member offline this long after a message, and not having read it, gets a notification. */
  delayMs: number;
  /** How long a push service keeps an undelivered notification (the TTL header), seconds. */
  ttlSec: number;
  /** Hosts a subscription's endpoint may name: exact names, or `*.suffix`. */
  endpointHosts: string[];
  /** Test only (refused in production): also accept http:// endpoints on loopback addresses. */
  allowLoopbackHttp: boolean;
  /** Push jobs run at once per instance. */
  concurrency: number;
}

export interface NatsConfig {
  /** Server URLs (nats:// or tls://); several for a cluster. */
  servers: string[];
  /** A NATS credentials file (JWT + NKey seed), as `nsc` writes it. */
  credsFile: string | null;
  user: string | null;
  pass: string | null;
  token: string | null;
  /** TLS: CA to verify the server with, and a client certificate and key (mutual TLS). */
  tlsCaFile: string | null;
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
  /** First subject token (one token): `<prefix>.ev.c.<conversationId>` etc. */
  subjectPrefix: string;
  /** The JetStream stream that stores `<prefix>.ev.>`; created when missing. */
  stream: string;
  streamReplicas: number;
  /** Outbox rows older than this are published by the relay (the bound after a writer dies). */
  relayAfterMs: number;
  /** Test only (refused in production): SIGKILL the process right after a send commits, before publishing it. */
  testKillAfterCommit: boolean;
}

export const DEFAULT_ATTACHMENT_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain', 'audio/webm', 'audio/ogg', 'audio/mp4'];
/** Image types whose magic bytes the upload checks; any other image/* type cannot be verified, so it is refused. */
export const SNIFFED_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
/** Audio types (voice messages) whose container signature the upload checks; other audio/* types are refused. */
export const SNIFFED_AUDIO_TYPES = ['audio/webm', 'audio/ogg', 'audio/mp4'];

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Used only outside production when no secret is set, so a fresh clone runs with
 * the demo storefront (web/ uses the same value in development).
 */
export const DEV_AUTH_SECRET = 'dev-only-secret-do-not-use-in-production-0123456789';

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {}

export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Readonly<Config> {
  const config: Config = {
    host: env.HOST ?? '0.0.0.0',
    port: int(env, 'PORT', 4000, 0, 65535),
    databaseUrl: env.DATABASE_URL || null,
    dataDir: path.resolve(env.CHAT_DATA_DIR ?? path.join(repoRoot, '.data')),
    embeddedPgPort: int(env, 'EMBEDDED_PG_PORT', 0, 0, 65535),
    migrateOnStart: bool(env, 'MIGRATE_ON_START', !env.DATABASE_URL),
    seedDemo: bool(env, 'SEED_DEMO', !env.DATABASE_URL),
    dbPoolSize: int(env, 'DB_POOL_SIZE', 10, 1, 200),
    authSecrets: secrets(env),
    usingDevSecret: false,
    clockToleranceSec: int(env, 'AUTH_CLOCK_TOLERANCE_SEC', 15, 0, 300),
    // NextAuth's own default session maxAge: real tokens are unaffected unless configured lower.
    maxSessionAgeSec: int(env, 'AUTH_MAX_SESSION_AGE_SEC', 30 * 24 * 3600, 60, 365 * 24 * 3600),
    chatCredentialMaxTtlSec: int(env, 'CHAT_CREDENTIAL_MAX_TTL_SEC', 3600, 30, 24 * 3600),
    allowedOrigins: list(env.ALLOWED_ORIGINS),
    systemRoleClaim: env.SYSTEM_ROLE_CLAIM ?? 'chatRole',
    heartbeatMs: int(env, 'HEARTBEAT_MS', 25_000, 100, 600_000),
    presenceTtlSec: int(env, 'PRESENCE_TTL_SEC', 30, 1, 3600),
    presenceHeartbeatMs: int(env, 'PRESENCE_HEARTBEAT_MS', 10_000, 50, 600_000),
    listenerRetryMs: int(env, 'LISTENER_RETRY_MS', 100, 10, 60_000),
    maxFrameBytes: int(env, 'MAX_FRAME_BYTES', 64 * 1024, 1024, 64 * 1024),
    maxBodyChars: int(env, 'MAX_BODY_CHARS', 4000, 1, 4000),
    maxSocketBufferBytes: int(env, 'MAX_SOCKET_BUFFER_BYTES', 1024 * 1024, 16 * 1024, 64 * 1024 * 1024),
    sendPipelineAt: int(env, 'SEND_PIPELINE_AT', 32, 1, 512),
    sendRatePerSec: int(env, 'SEND_RATE_PER_SEC', 20, 1, 100_000),
    sendBurst: int(env, 'SEND_BURST', 40, 1, 100_000),
    dbWorkPerSec: int(env, 'DB_WORK_PER_SEC', 200, 1, 10_000_000),
    dbWorkBurst: int(env, 'DB_WORK_BURST', 2000, 1, 10_000_000),
    groupCreatesPerHour: int(env, 'GROUP_CREATES_PER_HOUR', 30, 1, 10_000_000),
    maxConnectionsPerUser: int(env, 'MAX_CONNECTIONS_PER_USER', 20, 1, 10_000),
    trustProxy: proxies(env.TRUST_PROXY),
    connectsPerIpPerMin: int(env, 'CONNECTS_PER_IP_PER_MIN', 600, 1, 10_000_000),
    httpRatePerMin: int(env, 'HTTP_RATE_PER_MIN', 1200, 1, 10_000_000),
    editWindowSec: int(env, 'EDIT_WINDOW_SEC', 15 * 60, 0, 365 * 24 * 3600),
    logLevel: env.LOG_LEVEL ?? 'info',
    instanceId: env.INSTANCE_ID ?? `${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    drainMs: int(env, 'DRAIN_MS', 10_000, 0, 120_000),
    httpHeadersTimeoutMs: int(env, 'HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    httpRequestTimeoutMs: int(env, 'HTTP_REQUEST_TIMEOUT_MS', 120_000, 100, 3_600_000),
    httpKeepAliveTimeoutMs: int(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 72_000, 100, 600_000),
    httpIdleTimeoutMs: int(env, 'HTTP_IDLE_TIMEOUT_MS', 30_000, 100, 600_000),
    maxAttachmentBytes: int(env, 'MAX_ATTACHMENT_BYTES', 10 * 1024 * 1024, 1, 100 * 1024 * 1024),
    maxVoiceBytes: int(env, 'MAX_VOICE_BYTES', 1024 * 1024, 1, 100 * 1024 * 1024),
    attachmentTypes: attachmentTypes(env.ATTACHMENT_TYPES),
    // Empty: <dataDir>/attachments, resolved below once overrides (a test's dataDir) are applied.
    attachmentsDir: env.ATTACHMENTS_DIR ? path.resolve(env.ATTACHMENTS_DIR) : '',
    bus: oneOf(env, 'BUS', ['pg', 'nats'] as const, 'pg'),
    nats: natsConfig(env),
    push: pushConfig(env),
    webhooks: {
      endpoints: webhookEndpoints(env.WEBHOOKS),
      retryBaseMs: int(env, 'WEBHOOK_RETRY_BASE_MS', 5_000, 10, 3_600_000),
      retryMaxMs: int(env, 'WEBHOOK_RETRY_MAX_MS', 3_600_000, 10, 24 * 3_600_000),
      deadLetterAfterMs: int(env, 'WEBHOOK_DEAD_LETTER_AFTER_SEC', 24 * 3600, 1, 30 * 24 * 3600) * 1000,
    },
    ...overrides,
  };
  if (config.nats.testKillAfterCommit && env.NODE_ENV === 'production') throw new ConfigError('CHAT_TEST_KILL_AFTER_COMMIT is a test hook; it is refused with NODE_ENV=production');
  if (config.push?.allowLoopbackHttp && env.NODE_ENV === 'production') throw new ConfigError('PUSH_ALLOW_LOOPBACK_HTTP is a test hook; it is refused with NODE_ENV=production');
  if (config.httpHeadersTimeoutMs > config.httpRequestTimeoutMs) {
    throw new ConfigError(`HTTP_HEADERS_TIMEOUT_MS (${config.httpHeadersTimeoutMs}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${config.httpRequestTimeoutMs})`);
  }
  if (!config.attachmentsDir) config.attachmentsDir = path.join(config.dataDir, 'attachments');
  if (config.authSecrets.length === 0) {
    if (env.NODE_ENV === 'production') {
      throw new ConfigError('Set AUTH_SECRET or NEXTAUTH_SECRET (the storefront session secret).');
    }
    config.authSecrets = [DEV_AUTH_SECRET];
    config.usingDevSecret = true;
  }
  return Object.freeze(config);
}

const SUBJECT_TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

function natsConfig(env: Env): NatsConfig {
  const user = env.NATS_USER || null;
  const pass = env.NATS_PASSWORD || null;
  const token = env.NATS_TOKEN || null;
  const credsFile = env.NATS_CREDS ? path.resolve(env.NATS_CREDS) : null;
  if ((user === null) !== (pass === null)) throw new ConfigError('NATS_USER and NATS_PASSWORD go together');
  if ([user, token, credsFile].filter((v) => v !== null).length > 1) throw new ConfigError('Set one of NATS_CREDS, NATS_USER/NATS_PASSWORD or NATS_TOKEN');
  const tlsCertFile = env.NATS_TLS_CERT ? path.resolve(env.NATS_TLS_CERT) : null;
  const tlsKeyFile = env.NATS_TLS_KEY ? path.resolve(env.NATS_TLS_KEY) : null;
  if ((tlsCertFile === null) !== (tlsKeyFile === null)) throw new ConfigError('NATS_TLS_CERT and NATS_TLS_KEY go together');
  const subjectPrefix = env.NATS_SUBJECT_PREFIX || 'chat';
  if (!SUBJECT_TOKEN.test(subjectPrefix)) throw new ConfigError(`NATS_SUBJECT_PREFIX must be one subject token (letters, digits, _ or -), got ${JSON.stringify(subjectPrefix)}`);
  const stream = env.NATS_STREAM || 'CHAT_EVENTS';
  if (!SUBJECT_TOKEN.test(stream)) throw new ConfigError(`NATS_STREAM must be letters, digits, _ or -, got ${JSON.stringify(stream)}`);
  return {
    servers: list(env.NATS_URL ?? 'nats://127.0.0.1:4222'),
    credsFile,
    user,
    pass,
    token,
    tlsCaFile: env.NATS_TLS_CA ? path.resolve(env.NATS_TLS_CA) : null,
    tlsCertFile,
    tlsKeyFile,
    subjectPrefix,
    stream,
    streamReplicas: int(env, 'NATS_STREAM_REPLICAS', 1, 1, 5),
    relayAfterMs: int(env, 'OUTBOX_RELAY_AFTER_MS', 1000, 100, 60_000),
    testKillAfterCommit: bool(env, 'CHAT_TEST_KILL_AFTER_COMMIT', false),
  };
}

/** Push service hosts browsers subscribe with: Chrome (FCM), Firefox (Mozilla), Safari (Apple), Edge (WNS). */
export const DEFAULT_PUSH_ENDPOINT_HOSTS = ['fcm.googleapis.com', 'updates.push.services.mozilla.com', '*.push.apple.com', '*.notify.windows.com'];

function pushConfig(env: Env): PushConfig | null {
  const publicKey = env.VAPID_PUBLIC_KEY || null;
  const privateKey = env.VAPID_PRIVATE_KEY || null;
  const subject = env.VAPID_SUBJECT || null;
  const delayMs = int(env, 'PUSH_DELAY_MS', 30_000, 0, 24 * 3600_000);
  const ttlSec = int(env, 'PUSH_TTL_SEC', 24 * 3600, 0, 28 * 24 * 3600);
  const concurrency = int(env, 'PUSH_CONCURRENCY', 4, 1, 100);
  const allowLoopbackHttp = bool(env, 'PUSH_ALLOW_LOOPBACK_HTTP', false);
  const hosts = env.PUSH_ENDPOINT_HOSTS === undefined || env.PUSH_ENDPOINT_HOSTS.trim() === '' ? DEFAULT_PUSH_ENDPOINT_HOSTS : list(env.PUSH_ENDPOINT_HOSTS).map((h) => h.toLowerCase());
  for (const host of hosts) {
    if (!/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(host)) throw new ConfigError(`PUSH_ENDPOINT_HOSTS: ${JSON.stringify(host)} is not a host name or *.suffix`);
  }
  if (!publicKey && !privateKey) return null;
  if (!publicKey || !privateKey) throw new ConfigError('VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY go together');
  if (Buffer.from(publicKey, 'base64url').length !== 65 || !/^[A-Za-z0-9_-]+$/.test(publicKey)) throw new ConfigError('VAPID_PUBLIC_KEY must be an uncompressed P-256 point, base64url (65 bytes)');
  if (Buffer.from(privateKey, 'base64url').length !== 32 || !/^[A-Za-z0-9_-]+$/.test(privateKey)) throw new ConfigError('VAPID_PRIVATE_KEY must be a P-256 private key, base64url (32 bytes)');
  if (!subject || !/^(mailto:|https:\/\/)\S+$/.test(subject)) throw new ConfigError('VAPID_SUBJECT must be a mailto: or https:// URL when VAPID keys are set');
  return { vapidPublicKey: publicKey, vapidPrivateKey: privateKey, vapidSubject: subject, delayMs, ttlSec, endpointHosts: hosts, allowLoopbackHttp, concurrency };
}

/**
 * WEBHOOKS: a JSON array of {id, url, secrets, events}. Set by the operator, so any http(s) URL
 * is accepted; secrets are Standard Webhooks keys (`whsec_` and base64 of 24 to 64 bytes).
 */
function webhookEndpoints(raw: string | undefined): WebhookEndpoint[] {
  if (raw === undefined || raw.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('WEBHOOKS must be a JSON array of {id, url, secrets, events}');
  }
  if (!Array.isArray(parsed) || parsed.length > 20) throw new ConfigError('WEBHOOKS must be a JSON array of at most 20 endpoints');
  const ids = new Set<string>();
  return parsed.map((item: unknown, i) => {
    const e = item as Partial<Record<'id' | 'url' | 'secrets' | 'events', unknown>> | null;
    const where = `WEBHOOKS[${i}]`;
    if (typeof e?.id !== 'string' || !SUBJECT_TOKEN.test(e.id) || ids.has(e.id)) throw new ConfigError(`${where}.id must be a unique name of letters, digits, _ or -`);
    ids.add(e.id);
    let url: URL;
    try {
      url = new URL(String(e.url));
    } catch {
      throw new ConfigError(`${where}.url is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${where}.url must be http(s)`);
    const secrets = e.secrets;
    if (!Array.isArray(secrets) || secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || !/^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/.test(s))) {
      throw new ConfigError(`${where}.secrets must be a non-empty array of whsec_<base64> keys`);
    }
    const events = e.events ?? ['message.created'];
    const unknown = Array.isArray(events) ? events.filter((t) => !WEBHOOK_EVENT_TYPES.includes(t as WebhookEventType)) : [];
    if (!Array.isArray(events) || events.length === 0 || unknown.length > 0) {
      throw new ConfigError(`${where}.events must list some of ${WEBHOOK_EVENT_TYPES.join(', ')}${unknown.length > 0 ? ` (unknown: ${unknown.map(String).join(', ')})` : ''}`);
    }
    return { id: e.id, url: url.href, secrets: secrets as string[], events: [...new Set(events as WebhookEventType[])] };
  });
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(values as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

/** AUTH_SECRET / NEXTAUTH_SECRET as a comma-separated list, plus AUTH_SECRET_1..9 (rotation). */
function secrets(env: Env): string[] {
  const found = [...list(env.AUTH_SECRET), ...list(env.NEXTAUTH_SECRET)];
  for (let i = 1; i <= 9; i++) found.push(...list(env[`AUTH_SECRET_${i}`]));
  return [...new Set(found)];
}

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;

/** ATTACHMENT_TYPES: comma-separated media types; wildcards and unverifiable image types are refused. */
function attachmentTypes(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [...DEFAULT_ATTACHMENT_TYPES];
  const types = [...new Set(list(raw).map((t) => t.toLowerCase()))];
  for (const type of types) {
    if (!MEDIA_TYPE.test(type)) throw new ConfigError(`ATTACHMENT_TYPES: ${JSON.stringify(type)} is not a media type (type/subtype, no wildcards or parameters)`);
    if (type.startsWith('image/') && !SNIFFED_IMAGE_TYPES.includes(type)) {
      throw new ConfigError(`ATTACHMENT_TYPES: ${type} is not supported; image types must be one of ${SNIFFED_IMAGE_TYPES.join(', ')} (their bytes are verified)`);
    }
    if (type.startsWith('audio/') && !SNIFFED_AUDIO_TYPES.includes(type)) {
      throw new ConfigError(`ATTACHMENT_TYPES: ${type} is not supported; audio types must be one of ${SNIFFED_AUDIO_TYPES.join(', ')} (their bytes are verified)`);
    }
  }
  return types;
}

function proxies(value: string | undefined): boolean | number | string[] {
  const raw = (value ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  return list(value);
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}
