/**
 * The Socket.IO peer (scripts/src/peer/socketio-server.ts) through socket.io-client,
 * websocket transport only. Same scenarios, same measurements as our driver:
 *   handshake auth { token } → server joins the user's rooms → emits `ready`
 *   emit('send', { conversationId, clientMsgId, body }, ack) → ack { ok, id? }
 *   on('message', { conversationId, senderId, clientMsgId, body })
 * There is no per-conversation seq and no resume: delivery is at most once.
 */
import { io, type Socket } from 'socket.io-client';
import type { LoadUser } from '../setup.ts';
import { RequestError, type ClientEvents, type Delivery, type Driver, type LoadClient, type SendAck, type SubscribeResult } from './types.ts';

interface Pending {
  resolve: (value: SendAck) => void;
  reject: (error: Error) => void;
  at: number;
}

class SocketIoClient implements LoadClient {
  private readonly pending = new Map<number, Pending>();
  private counter = 0;
  open = true;

  constructor(
    readonly user: LoadUser,
    private readonly socket: Socket,
    private readonly rooms: string[],
  ) {}

  async subscribe(): Promise<SubscribeResult> {
    return { conversations: this.rooms.map((id) => ({ id, lastSeq: null })), replayed: 0 };
  }

  send(conversationId: string, clientMsgId: string, body: string): Promise<SendAck> {
    if (!this.open) return Promise.reject(new RequestError('CONNECTION_CLOSED', 'not open'));
    const id = ++this.counter;
    return new Promise<SendAck>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, at: performance.now() });
      this.socket.emit('send', { conversationId, clientMsgId, body }, (ack: { ok: boolean; error?: string }) => {
        const pending = this.pending.get(id);
        if (!pending) return;
        this.pending.delete(id);
        if (ack?.ok) pending.resolve({ seq: null, duplicate: false });
        else pending.reject(new RequestError('PEER_ERROR', ack?.error ?? 'refused'));
      });
    });
  }

  closed(reason: string): void {
    this.open = false;
    const error = new RequestError('CONNECTION_CLOSED', reason);
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  expire(maxAgeMs: number): void {
    const limit = performance.now() - maxAgeMs;
    for (const [id, pending] of this.pending) {
      if (pending.at < limit) {
        this.pending.delete(id);
        pending.reject(new RequestError('TIMEOUT', `no answer within ${maxAgeMs} ms`));
      }
    }
  }

  async close(): Promise<void> {
    this.socket.disconnect();
  }

  terminate(): void {
    this.socket.disconnect();
  }
}

export function socketIoDriver(): Driver {
  return {
    name: 'socketio',
    connect(target: string, user: LoadUser, events: ClientEvents, timeoutMs: number): Promise<LoadClient> {
      const url = new URL(target);
      const origin = `${url.protocol === 'wss:' || url.protocol === 'https:' ? 'https' : 'http'}://${url.host}`;
      return new Promise<LoadClient>((resolve, reject) => {
        const socket = io(origin, {
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
          timeout: timeoutMs,
          auth: { token: user.token },
          extraHeaders: { authorization: `Bearer ${user.token}` },
        });
        let client: SocketIoClient | null = null;
        const timer = setTimeout(() => {
          socket.disconnect();
          reject(new RequestError('CONNECT_TIMEOUT', `no ready event within ${timeoutMs} ms`));
        }, timeoutMs);
        socket.once('ready', (info: { rooms: string[] }) => {
          clearTimeout(timer);
          client = new SocketIoClient(user, socket, info.rooms);
          resolve(client);
        });
        // The engine.io packet of each `message` event arrives just before it (synchronously, same
        // frame): its payload on the wire is "4" + the packet's data, e.g. 4 + 2["message",{…}].
        let lastFrameBytes: number | undefined;
        socket.io.engine?.on('packet', (packet: { type: string; data?: unknown }) => {
          lastFrameBytes = packet.type === 'message' && typeof packet.data === 'string' ? Buffer.byteLength(packet.data) + 1 : undefined;
        });
        socket.on('message', (m: Delivery) => {
          const bytes = lastFrameBytes;
          lastFrameBytes = undefined;
          events.onDelivery({ conversationId: m.conversationId, seq: m.seq ?? null, senderId: m.senderId, clientMsgId: m.clientMsgId, body: m.body, bytes });
        });
        socket.once('connect_error', (error) => {
          clearTimeout(timer);
          reject(new RequestError('CONNECT_ERROR', error.message));
        });
        socket.on('disconnect', (reason) => {
          if (!client) return;
          client.closed(reason);
          events.onClose(1006, reason);
        });
      });
    },
  };
}
