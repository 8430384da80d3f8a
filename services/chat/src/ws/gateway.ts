/** Accepts authenticated sockets and turns their frames into handler calls. */
import { PROTOCOL_VERSION, type ReadyFrame } from '@chat/protocol';
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { AppError, toAppError } from '../errors.ts';
import { encodeFrame } from '../frames.ts';
import { Connection } from './connection.ts';
import { decodeFrame } from './codec.ts';
import { typingSignal } from '../domain/typing.ts';
import { dispatch, type HandlerDeps } from './handlers.ts';
import type { Registry, Slot } from './registry.ts';

export interface GatewayOptions {
  heartbeatMs: number;
  maxSocketBufferBytes: number;
  clockToleranceSec: number;
}

export class Gateway {
  draining = false;

  constructor(
    private readonly deps: HandlerDeps,
    readonly registry: Registry,
    private readonly log: Logger,
    private readonly options: GatewayOptions,
    private readonly connectLimiter: RateLimiterMemory,
  ) {}

  /** Admitted upgrades' slots, until accept() turns them into connections. */
  private readonly slots = new WeakMap<FastifyRequest['raw'], Slot>();

  /**
   * Runs before the upgrade completes, after authentication: takes one of the user's
   * connection slots now, so concurrent upgrades cannot overshoot the limit.
   */
  async admit(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (this.draining) throw new AppError('SHUTTING_DOWN');
    const slot = this.registry.reserve(request.identity.userId);
    if (!slot) throw new AppError('TOO_MANY_CONNECTIONS');
    this.slots.set(request.raw, slot);
    // An upgrade that does not complete gives the slot back: it was answered over HTTP (a plain
    // GET, a later refusal), or its socket closed first (ws refused the handshake, the client left).
    const release = () => slot.release();
    reply.raw.once('finish', release);
    reply.raw.once('close', release);
  }

  /** Runs first on an upgrade, before the token is decrypted: connects per client IP. */
  async throttle(request: FastifyRequest): Promise<void> {
    try {
      await this.connectLimiter.consume(request.ip);
    } catch {
      throw new AppError('RATE_LIMITED', 'Too many connection attempts from this address.');
    }
  }

  accept(socket: WebSocket, request: FastifyRequest): void {
    const { metrics } = this.deps;
    const id = randomUUID();
    const identity = request.identity;
    const slot = this.slots.get(request.raw);
    this.slots.delete(request.raw);
    if (!slot) throw new Error('gateway: an upgrade completed without being admitted');
    const connection = new Connection(id, identity, socket, this.log, metrics, this.options.maxSocketBufferBytes, this.deps.rooms, request.raw.socket);

    // Attach handlers synchronously, before anything awaits, or early frames are lost.
    socket.on('message', (data, isBinary) => this.onMessage(connection, data, isBinary));
    socket.on('pong', () => {
      connection.alive = true;
    });
    // The upgrade's HTTP objects (request, reply, the placeholder response) would otherwise stay
    // reachable for the socket's whole life, ~2 KiB per idle connection: @fastify/websocket's
    // 'error' listener closes over them and the TCP socket points at the response.
    socket.removeAllListeners('error');
    socket.on('error', (error) => this.onSocketError(socket, error, connection.log));
    const response = (request.raw.socket as { _httpMessage?: { detachSocket(s: unknown): void } } | null)?._httpMessage;
    response?.detachSocket(request.raw.socket);
    socket.on('close', (code) => {
      connection.closed = true;
      connection.clearExpiry();
      this.registry.remove(connection);
      this.deps.rooms.releaseUser(connection.userId);
      const conversationIds = [...connection.lastSent.keys()];
      for (const conversationId of conversationIds) this.deps.rooms.leave(conversationId, connection);
      this.onGone(connection, conversationIds).catch((error: unknown) => connection.log.warn({ err: error }, 'cleanup after close failed'));
      metrics.connections.dec();
      if (this.log.isLevelEnabled('debug')) connection.log.debug({ code }, 'socket closed');
    });

    this.registry.add(connection, slot);
    this.deps.rooms.holdUser(connection.userId);
    metrics.connections.inc();
    metrics.connectsTotal.inc();
    connection.scheduleExpiry(identity.expiresAt, this.options.clockToleranceSec);
    const ready: ReadyFrame = {
      type: 'ready',
      protocol: PROTOCOL_VERSION,
      connectionId: id,
      userId: identity.userId,
      heartbeatMs: this.options.heartbeatMs,
      sessionExpiresAt: identity.expiresAt ? new Date(identity.expiresAt * 1000).toISOString() : null,
    };
    connection.sendRaw(encodeFrame(ready));
    if (this.log.isLevelEnabled('debug')) connection.log.debug('socket open');
  }

  private onMessage(connection: Connection, data: RawData, isBinary: boolean): void {
    connection.alive = true;
    const { metrics } = this.deps;
    if (isBinary) {
      metrics.framesIn.inc({ type: 'binary' });
      return connection.fail(null, new AppError('UNSUPPORTED_FRAME'));
    }
    const decoded = decodeFrame(data.toString());
    if (!decoded.ok) {
      metrics.framesIn.inc({ type: 'invalid' });
      return connection.fail(decoded.id, decoded.error);
    }
    const frame = decoded.frame;
    metrics.framesIn.inc({ type: frame.type });
    dispatch(connection, frame, this.deps).then(
      (result) => connection.ack(frame.id, result),
      (thrown: unknown) => {
        const { error, expected } = toAppError(thrown);
        if (!expected) connection.log.error({ err: thrown, frameType: frame.type }, 'frame handler failed');
        connection.fail(frame.id, error);
      },
    );
  }

  /** Protocol errors from the client (oversized frame, invalid UTF-8): ws already started the close. */
  private onSocketError(socket: WebSocket, error: Error, log: Logger): void {
    log.debug({ err: error }, 'socket error');
    const code = (error as { code?: string }).code;
    if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.deps.metrics.errorsSent.inc({ code: 'PAYLOAD_TOO_LARGE', transport: 'ws' });
    else if (code?.startsWith('WS_ERR_')) this.deps.metrics.errorsSent.inc({ code: 'INVALID_FRAME', transport: 'ws' });
    if (socket.readyState === socket.OPEN) socket.close(1011);
  }

  /** A vanished typist stops typing; a user whose last socket closed goes offline. */
  private async onGone(connection: Connection, conversationIds: string[]): Promise<void> {
    const stops = connection.typingIn().map((conversationId) => typingSignal(conversationId, connection.userId, 'stop'));
    if (stops.length) await this.deps.chat.signal(stops);
    if (conversationIds.length === 0) return;
    await this.deps.presence.detach(connection.userId, conversationIds, this.registry.ofUser(connection.userId).size);
  }

  /** Tells every client to reconnect elsewhere. */
  closeAll(): void {
    for (const connection of [...this.registry.all()]) connection.close('SHUTTING_DOWN');
  }
}
