/**
 * Our protocol over `ws`: bearer token on the upgrade, `ready`, `resume`, `message.send` → `ack`,
 * `message.created` events. The same class drives the raw reference server (--driver raw), which
 * speaks the same frames but knows no database: there `resume` names the rooms to join.
 */
import { WebSocket } from 'ws';
import type { LoadUser } from '../setup.ts';
import { RequestError, type ClientEvents, type Delivery, type Driver, type LoadClient, type SendAck, type SubscribeResult } from './types.ts';

interface Pending {
  resolve: (value: any) => void;
  reject: (error: Error) => void;
  at: number;
}

const CREATED_PREFIX = '{"type":"message.created","conversationId":"';

/**
 * message.created frames are most of the traffic; the service writes them with JSON.stringify
 * in a fixed key order, so the few fields we need are sliced out instead of parsing the whole
 * frame (falls back to JSON.parse whenever the shape is not the expected one).
 */
export function parseCreated(text: string): Delivery | null {
  if (!text.startsWith(CREATED_PREFIX)) return null;
  const conversationId = text.slice(CREATED_PREFIX.length, CREATED_PREFIX.length + 36);
  const seqAt = text.indexOf('"seq":', CREATED_PREFIX.length + 36);
  const seq = Number(text.slice(seqAt + 6, text.indexOf(',', seqAt)));
  const senderId = field(text, '"senderId":"', seqAt);
  const clientMsgId = field(text, '"clientMsgId":"', seqAt);
  const body = field(text, '"body":"', seqAt);
  if (seqAt < 0 || !Number.isInteger(seq) || senderId === null || clientMsgId === null || body === null) {
    const frame = JSON.parse(text) as { conversationId: string; seq: number; message: { senderId: string; clientMsgId: string; body: string } };
    return { conversationId: frame.conversationId, seq: frame.seq, senderId: frame.message.senderId, clientMsgId: frame.message.clientMsgId, body: frame.message.body };
  }
  return { conversationId, seq, senderId, clientMsgId, body };
}

function field(text: string, key: string, from: number): string | null {
  const at = text.indexOf(key, from);
  if (at < 0) return null;
  const start = at + key.length;
  const end = text.indexOf('"', start);
  if (end < 0) return null;
  const value = text.slice(start, end);
  return value.includes('\\') ? null : value;
}

class OursClient implements LoadClient {
  private readonly pending = new Map<string, Pending>();
  private counter = 0;
  open = false;

  constructor(
    readonly user: LoadUser,
    private readonly socket: WebSocket,
    private readonly events: ClientEvents,
    private readonly nameRooms: boolean,
  ) {}

  onText(text: string, bytes: number): void {
    const created = parseCreated(text);
    if (created) {
      created.bytes = bytes;
      return this.events.onDelivery(created);
    }
    if (text.startsWith('{"type":"ack"') || text.startsWith('{"type":"error"')) {
      const frame = JSON.parse(text) as { type: string; id: string | null; result?: unknown; code?: string; message?: string };
      const pending = frame.id === null ? undefined : this.pending.get(frame.id);
      if (!pending) return;
      this.pending.delete(frame.id!);
      if (frame.type === 'ack') pending.resolve(frame.result);
      else pending.reject(new RequestError(frame.code ?? 'ERROR', frame.message ?? ''));
    }
    // ready, presence, typing and other signals: not measured.
  }

  onClosed(code: number, reason: string): void {
    this.open = false;
    const error = new RequestError('CONNECTION_CLOSED', `closed with ${code}`);
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    this.events.onClose(code, reason);
  }

  private request<R>(frame: Record<string, unknown>): Promise<R> {
    if (!this.open) return Promise.reject(new RequestError('CONNECTION_CLOSED', 'not open'));
    const id = `r${++this.counter}`;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, at: performance.now() });
      this.socket.send(JSON.stringify({ ...frame, id }));
    });
  }

  async subscribe(lastSeqs: Record<string, number>): Promise<SubscribeResult> {
    const conversations = this.nameRooms
      ? Object.fromEntries(this.user.conversations.map((id) => [id, lastSeqs[id] ?? 0]))
      : lastSeqs;
    return this.request<SubscribeResult>({ type: 'resume', conversations });
  }

  async send(conversationId: string, clientMsgId: string, body: string): Promise<SendAck> {
    const result = await this.request<{ message: { seq: number }; duplicate: boolean }>({ type: 'message.send', conversationId, clientMsgId, body });
    return { seq: result.message.seq, duplicate: result.duplicate };
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

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.socket.terminate();
        resolve();
      }, 2000);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.close(1000);
    });
  }

  terminate(): void {
    this.socket.terminate();
  }
}

export function oursDriver(options: { raw?: boolean } = {}): Driver {
  const raw = options.raw ?? false;
  return {
    name: raw ? 'raw' : 'ours',
    connect(target: string, user: LoadUser, events: ClientEvents, timeoutMs: number): Promise<LoadClient> {
      return new Promise<LoadClient>((resolve, reject) => {
        const socket = new WebSocket(target, {
          headers: { authorization: `Bearer ${user.token}`, ...(raw ? { 'x-load-user': user.id } : {}) },
          perMessageDeflate: false,
          skipUTF8Validation: true,
          handshakeTimeout: timeoutMs,
        });
        const client = new OursClient(user, socket, events, raw);
        let settled = false;
        const fail = (error: Error) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          socket.terminate();
          reject(error);
        };
        const timer = setTimeout(() => fail(new RequestError('CONNECT_TIMEOUT', `no ready frame within ${timeoutMs} ms`)), timeoutMs);
        socket.on('message', (data: Buffer) => {
          const text = data.toString();
          if (!settled) {
            if (text.startsWith('{"type":"ready"')) {
              settled = true;
              clearTimeout(timer);
              client.open = true;
              resolve(client);
            }
            return;
          }
          client.onText(text, data.length);
        });
        socket.on('unexpected-response', (_req, res) => fail(new RequestError(`HTTP_${res.statusCode}`, 'upgrade refused')));
        socket.on('error', (error) => fail(error));
        socket.on('close', (code, reason) => {
          if (!settled) return fail(new RequestError('CLOSED_BEFORE_READY', `close ${code}`));
          client.onClosed(code, reason.toString());
        });
      });
    },
  };
}
