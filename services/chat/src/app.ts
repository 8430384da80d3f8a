/**
 * Builds the chat service: external plugins (database, bus, metrics), then the
 * domain, then routes. Exported for tests, which start real instances on port 0.
 */
import { connect, type Database } from '@chat/db';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import helmet from 'helmet';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import pino, { type Logger } from 'pino';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { authenticator, originGuard } from './auth/authenticate.ts';
import { SUBPROTOCOL } from './auth/credentials.ts';
import { createSessionTokenVerifier } from './auth/session-token.ts';
import type { Config } from './config.ts';
import { AppError } from './errors.ts';
import { Chat } from './domain/chat.ts';
import type { Bus } from './fanout/bus.ts';
import { NatsBus } from './fanout/nats-bus.ts';
import { PgBus } from './fanout/pg-bus.ts';
import { adminRoutes } from './http/conversation-admin.ts';
import { attachmentRoutes } from './http/attachments.ts';
import { conversationRoutes } from './http/conversations.ts';
import { registerErrorHandler } from './http/error-handler.ts';
import { refuseNonFiniteNumbers } from './http/finite-numbers.ts';
import { registerOps } from './http/ops.ts';
import { registerOpenApi } from './http/openapi.ts';
import { requireRouteCosts, routeCost } from './http/route-costs.ts';
import { loggedUrl } from './http/request-log.ts';
import { keyRoutes } from './http/keys.ts';
import { pushRoutes } from './http/push.ts';
import { searchRoutes } from './http/search.ts';
import { threadRoutes } from './http/threads.ts';
import { UserLimits } from './limits.ts';
import { createMetrics } from './metrics.ts';
import { Presence } from './domain/presence.ts';
import { migratePushQueue, pushMetrics, pushTask, PushWorker } from './push/worker.ts';
import { webhookMetrics, webhookSettings, webhookTask } from './webhooks/deliver.ts';
import { Gateway } from './ws/gateway.ts';
import { SignalRouter } from './ws/signals.ts';
import { Registry } from './ws/registry.ts';
import { Rooms } from './ws/rooms.ts';

export interface ChatApp {
  app: FastifyInstance;
  gateway: Gateway;
  chat: Chat;
  /** Graceful stop: refuse new sockets, finish in-flight sends, tell clients to reconnect, close. */
  drain(): Promise<void>;
}

const CREATED_AT = '"createdAt":"';
/** On the NATS bus, how long a room waits for a missing seq before reading the gap from the database. */
const NATS_GAP_GRACE_MS = 30;

/** Commit → passed to this instance's sockets, for message.created frames (read without parsing the frame). */
function observeFanoutLag(frame: string, metrics: ReturnType<typeof createMetrics>): void {
  if (!frame.startsWith('{"type":"message.created"')) return;
  const at = frame.indexOf(CREATED_AT);
  if (at < 0) return;
  const created = Date.parse(frame.slice(at + CREATED_AT.length, at + CREATED_AT.length + 24));
  if (!Number.isNaN(created)) metrics.fanoutLagSeconds.observe(Math.max(0, Date.now() - created) / 1000);
}

/** Trust the nearest `hops` proxies. */
function trustHops(hops: number) {
  return (_address: string, hop: number) => hop < hops;
}

/** `destination`: where to write (default stdout); the browser tests keep a log file to scan for plaintext. */
export function createLogger(config: Pick<Config, 'logLevel' | 'instanceId'>, destination?: pino.DestinationStream): Logger {
  return pino({
    level: config.logLevel,
    base: { instance: config.instanceId },
    // Never log credentials, even at debug.
    redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["sec-websocket-protocol"]'],
    serializers: {
      // The URL's query may hold a credential, a search term or a filename, in any spelling:
      // logged from the parsed query, with only known-harmless values (http/request-log.ts).
      req: (req: { method?: string; url?: string; query?: unknown; ip?: string; id?: string }) => ({
        id: req.id,
        method: req.method,
        url: loggedUrl(req.url, req.query),
        remoteAddress: req.ip,
      }),
    },
  }, destination);
}

/** The fan-out bus the configuration names: LISTEN/NOTIFY, or NATS JetStream routed by interest. */
function createBus(config: Readonly<Config>, db: Database, logger: Logger, metrics: ReturnType<typeof createMetrics>): Bus {
  if (config.bus === 'pg') {
    return new PgBus({
      url: config.databaseUrl!,
      log: logger,
      retryBaseMs: config.listenerRetryMs,
      onReconnect: () => metrics.listenerReconnects.inc(),
      onInvalid: () => metrics.busInvalidRecords.inc(),
    });
  }
  const { nats } = config;
  const bus = new NatsBus({
    servers: nats.servers,
    db,
    log: logger,
    name: config.instanceId,
    subjectPrefix: nats.subjectPrefix,
    stream: nats.stream,
    streamReplicas: nats.streamReplicas,
    credsFile: nats.credsFile,
    user: nats.user,
    pass: nats.pass,
    token: nats.token,
    tls:
      nats.tlsCaFile || nats.tlsCertFile
        ? { ...(nats.tlsCaFile ? { caFile: nats.tlsCaFile } : {}), ...(nats.tlsCertFile ? { certFile: nats.tlsCertFile, keyFile: nats.tlsKeyFile! } : {}) }
        : null,
    relayAfterMs: nats.relayAfterMs,
    killAfterCommit: nats.testKillAfterCommit,
    metrics: {
      connected: (up) => metrics.busConnected.set(up ? 1 : 0),
      publishSeconds: (seconds) => metrics.busPublishSeconds.observe(seconds),
      duplicates: (n) => metrics.busDuplicatePublishes.inc(n),
      publishFailures: (n) => metrics.busPublishFailures.inc(n),
      relayed: (events, signals, maxAge) => {
        if (events > 0) metrics.outboxRelayed.inc({ kind: 'event' }, events);
        if (signals > 0) metrics.outboxRelayed.inc({ kind: 'signal' }, signals);
        metrics.outboxRelayLagSeconds.observe(maxAge);
      },
      reconnects: () => metrics.busReconnects.inc(),
    },
  });
  metrics.sizes.busSubscriptions = () => bus.subscriptions;
  return bus;
}

export async function buildApp(config: Readonly<Config>, logger: Logger = createLogger(config)): Promise<ChatApp> {
  if (!config.databaseUrl) throw new Error('buildApp needs config.databaseUrl (server.ts starts the embedded database)');
  const metrics = createMetrics(config.instanceId);
  const database = connect(config.databaseUrl, {
    max: config.dbPoolSize,
    applicationName: `chat-${config.instanceId}`,
    // On the NATS bus, the send statement writes the outbox too (migration 0006's trigger).
    settings: {
      ...(config.bus === 'nats' ? { 'chat.bus_outbox': 'on' } : {}),
      // With Web Push configured, the send statement enqueues push jobs (migration 0007's trigger).
      ...(config.push ? { 'chat.push_delay_ms': String(config.push.delayMs) } : {}),
      // Changes of the types webhook endpoints subscribe to enqueue drain jobs (migration 0010's triggers).
      ...webhookSettings(config.webhooks),
    },
  });
  // The triggers call the queue's SQL, so its schema is installed before the first send.
  const queued = config.push !== null || config.webhooks.endpoints.length > 0;
  if (queued) await migratePushQueue(config.databaseUrl, logger);
  const pushWorker = queued
    ? new PushWorker({
        databaseUrl: config.databaseUrl,
        log: logger,
        concurrency: config.push?.concurrency ?? 4,
        tasks: {
          ...(config.push ? pushTask(database.db, config.push, logger, pushMetrics(metrics.registry)) : {}),
          ...(config.webhooks.endpoints.length > 0 ? webhookTask(database.db, config.webhooks, logger, webhookMetrics(metrics.registry, database.db, config.webhooks)) : {}),
        },
      })
    : null;
  const bus = createBus(config, database.db, logger, metrics);
  const chat = new Chat(database, bus, metrics, { maxBodyChars: config.maxBodyChars, editWindowSec: config.editWindowSec }, config.sendPipelineAt);
  const rooms = new Rooms(
    (id, after, limit) => chat.loadStream(id, after, limit),
    logger,
    (n) => metrics.gapFills.inc(n),
    (frame) => observeFanoutLag(frame, metrics),
    (n) => metrics.phantomEvents.inc(n),
    bus,
    (n) => metrics.busDuplicateEvents.inc(n),
    // Two instances' publishes of one conversation may cross on NATS: wait a moment before a read.
    config.bus === 'nats' ? NATS_GAP_GRACE_MS : 0,
  );
  metrics.sizes.rooms = () => rooms.size;
  metrics.sizes.sendQueue = () => chat.sendBacklog;
  const verifier = await createSessionTokenVerifier({
    secrets: config.authSecrets,
    clockToleranceSec: config.clockToleranceSec,
    systemRoleClaim: config.systemRoleClaim,
    maxSessionAgeSec: config.maxSessionAgeSec,
    chatCredentialMaxTtlSec: config.chatCredentialMaxTtlSec,
  });
  // Per-user budgets (sends, typing, database work, new groups), charged before any work.
  const limits = new UserLimits(config);
  const presence = new Presence(database.db, bus, logger, { instanceId: config.instanceId, ttlSec: config.presenceTtlSec, heartbeatMs: config.presenceHeartbeatMs });
  const registry = new Registry(config.maxConnectionsPerUser);
  const deps = { chat, rooms, metrics, verifier, limits, presence, clockToleranceSec: config.clockToleranceSec };
  const signals = new SignalRouter(registry, deps);
  const gateway = new Gateway(
    deps,
    registry,
    logger,
    { heartbeatMs: config.heartbeatMs, maxSocketBufferBytes: config.maxSocketBufferBytes, clockToleranceSec: config.clockToleranceSec },
    new RateLimiterMemory({ points: config.connectsPerIpPerMin, duration: 60 }),
  );

  await bus.start({
    onEvents: (events) => {
      metrics.busEventsReceived.inc(events.length);
      rooms.onEvents(events);
    },
    onSignal: (signal) => signals.onSignal(signal),
    onResubscribed: (downSince) => {
      rooms.resync();
      signals.recover(downSince).catch((error: unknown) => logger.error({ err: error }, 'membership recovery failed'));
    },
  });

  // Headers for a JSON API on every response (success, error, 404, refused URL): nothing here
  // is meant to be sniffed, rendered, framed or to load anything. Attachment downloads set
  // their own sandboxed policy. HSTS is helmet's default, for deployments that terminate TLS in front.
  const securityHeaders = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
  });
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: 256 * 1024,
    genReqId: () => crypto.randomUUID(),
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : config.trustProxy,
    // Every server timeout is set, so no client holds a connection open by saying nothing:
    // headers, the whole request, an idle keep-alive, and any silence on the socket (upgraded
    // sockets leave the last one for the heartbeat). Header and request timeouts are checked
    // on an interval, kept well under the shorter of the two.
    connectionTimeout: config.httpIdleTimeoutMs,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    requestTimeout: config.httpRequestTimeoutMs,
    http: {
      headersTimeout: config.httpHeadersTimeoutMs,
      requestTimeout: config.httpRequestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, Math.max(25, Math.floor(config.httpHeadersTimeoutMs / 4))),
    },
    // Router-level failures (a malformed URL, an over-long path parameter) get the catalog's shape too.
    frameworkErrors: (error, request, reply: FastifyReply) => {
      securityHeaders(request.raw, reply.raw, () => {});
      const status = (error as { statusCode?: number }).statusCode ?? 400;
      const body = new AppError(status === 404 ? 'NOT_FOUND' : 'VALIDATION_FAILED', error.message).toBody();
      void reply.code(status === 404 ? 404 : 400).send(body);
    },
    // Extra properties are refused (as over the WebSocket), not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
  }) as unknown as FastifyInstance;
  app.addHook('onRequest', (request, reply, done) => securityHeaders(request.raw, reply.raw, (error) => done(error as Error | undefined)));
  // An answer sent while the request body is still arriving (a refusal before the body is
  // read: 401, 403, 429, 413) ends the connection, rather than reading and discarding
  // whatever the client goes on sending.
  app.addHook('onSend', async (request, reply) => {
    if (!request.raw.complete) reply.header('connection', 'close');
  });
  registerErrorHandler(app, metrics);
  refuseNonFiniteNumbers(app);
  // Browsers on the storefront's origin call /v1 with a bearer token (never cookies), so
  // only the listed origins get CORS headers, without credentials. Empty list: no CORS.
  await app.register(cors, {
    origin: config.allowedOrigins.length > 0 ? config.allowedOrigins : false,
    credentials: false,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type'],
    exposedHeaders: ['retry-after', 'content-disposition'],
    maxAge: 600,
  });
  await app.register(websocket, {
    // Errors thrown by the connection handler itself (socket errors are handled by the gateway).
    errorHandler: (error, socket) => {
      logger.error({ err: error }, 'websocket handler failed');
      if (socket.readyState === socket.OPEN) socket.close(1011);
    },
    options: {
      maxPayload: config.maxFrameBytes,
      perMessageDeflate: false,
      handleProtocols: (protocols: Set<string>) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    },
  });

  // Every route is limited unless it opts out by its own config (`rateLimit: false`: /ws and the
  // operations endpoints): the decision follows the matched route, whatever the URL's spelling.
  await app.register(rateLimit, {
    max: config.httpRatePerMin,
    timeWindow: 60_000,
    errorResponseBuilder: (_request, context) =>
      Object.assign(new AppError('RATE_LIMITED', 'Too many requests from this address.', { retryAfterMs: context.ttl }), { statusCode: 429 }),
  });

  // Before the routes it describes; /openapi.json and /docs are public, under the per-address limit.
  await registerOpenApi(app);

  const authenticate = authenticator(verifier, (identity) => chat.ensureUser(identity));
  const checkOrigin = originGuard(config.allowedOrigins);
  app.route({
    method: 'GET',
    url: '/ws',
    // Sockets have their own limits (connects per IP, per user, per frame).
    config: { rateLimit: false },
    preValidation: [(request) => gateway.throttle(request), authenticate, checkOrigin, (request, reply) => gateway.admit(request, reply)],
    // A plain GET without the upgrade headers.
    handler: (_request, reply) => reply.status(426).header('upgrade', 'websocket').send(new AppError('UPGRADE_REQUIRED').toBody()),
    wsHandler: (socket, request) => gateway.accept(socket, request),
  });
  // One door for every /v1 route: the caller is authenticated in preParsing, after the
  // per-IP limit (onRequest) and before any body is read, so an anonymous caller never makes
  // the server wait for or buffer a body. Cookie-authenticated writes must also come from an
  // allowed origin (CSRF), like cookie sockets. Then the route's declared cost is charged to
  // the caller (limits.ts), so a refused request has done no work.
  await app.register(
    async (v1) => {
      v1.addHook('preParsing', async (request, reply) => {
        await authenticate(request, reply);
        if (request.method !== 'GET' && request.method !== 'HEAD') await checkOrigin(request);
        await limits.charge(request.identity.userId, routeCost(request));
      });
      requireRouteCosts(v1);
      await v1.register(conversationRoutes, { chat });
      await v1.register(attachmentRoutes, { chat, config });
      await v1.register(adminRoutes, { chat });
      await v1.register(searchRoutes, { chat });
      await v1.register(threadRoutes, { chat });
      await v1.register(keyRoutes, { chat });
      await v1.register(pushRoutes, { db: database.db, config: config.push, ensureUser: (identity) => chat.ensureUser(identity) });
    },
    { prefix: '/v1' },
  );
  registerOps(app, { chat, bus, metrics, isDraining: () => gateway.draining });

  registry.startHeartbeat(config.heartbeatMs);
  presence.start();
  await pushWorker?.start();
  app.addHook('onClose', async () => {
    registry.stopHeartbeat();
    await pushWorker?.stop();
    await presence.stop();
    await bus.stop();
    await database.end();
  });

  return {
    app,
    gateway,
    chat,
    async drain() {
      gateway.draining = true;
      const deadline = Date.now() + config.drainMs;
      const timeLeft = () => new Promise<false>((resolve) => setTimeout(() => resolve(false), Math.max(0, deadline - Date.now())).unref());
      await Promise.race([chat.drain(), timeLeft()]);
      // Let the acks of the last batch reach their sockets before saying goodbye.
      await new Promise((resolve) => setImmediate(resolve));
      gateway.closeAll();
      // Requests still arriving (a slow or stalled body) get what is left of the drain time;
      // then their connections are closed, so a stop never waits on a client.
      const closing = app.close();
      if (!(await Promise.race([closing.then(() => true), timeLeft()]))) app.server.closeAllConnections();
      await closing;
    },
  };
}
