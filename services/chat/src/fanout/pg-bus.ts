/**
 * LISTEN/NOTIFY bus. One dedicated connection per instance listens; writers NOTIFY
 * inside their transaction. Payload format (kept far below the 8000-byte limit):
 *   "<conversationId> <seq> <frame>"  lines, joined by "\n"   (stream events)
 *   "<conversationId> <seq> -"        the frame is too large: read it from the database
 *   "~<origin> <target> <frame>"      a signal (one per notification)
 */
import postgres, { type Sql, type TransactionSql } from 'postgres';
import type { Logger } from 'pino';
import type { Bus, BusListener, Signal, StreamEvent } from './bus.ts';

const CHANNEL = 'chat_events';
/** Postgres rejects payloads of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7500;
/** Larger frames travel by reference. */
const MAX_INLINE_FRAME_BYTES = 3000;

export interface PgBusOptions {
  url: string;
  log: Logger;
  /** First reconnect delay; it doubles per failed attempt up to 5 s. */
  retryBaseMs?: number;
  onReconnect?: () => void;
}

export class PgBus implements Bus {
  private listenSql: Sql | null = null;
  private listener: BusListener | null = null;
  private stopped = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  listening = false;

  constructor(private readonly options: PgBusOptions) {}

  async publish(tx: TransactionSql | Sql, events: StreamEvent[]): Promise<void> {
    const payloads = encodeEvents(events);
    if (payloads.length === 1) await tx`select pg_notify(${CHANNEL}, ${payloads[0]!})`;
    else if (payloads.length > 1) await tx`select pg_notify(${CHANNEL}, p) from unnest(${payloads}::text[]) p`;
  }

  async signal(signal: Signal): Promise<void> {
    const payload = `~${signal.origin} ${signal.target} ${signal.frame}`;
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) throw new Error('signal too large');
    const sql = this.listenSql;
    if (!sql || !this.listening) return; // signals are best-effort by design
    await sql`select pg_notify(${CHANNEL}, ${payload})`;
  }

  async start(listener: BusListener): Promise<void> {
    this.listener = listener;
    await this.connect(true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.listening = false;
    await this.listenSql?.end({ timeout: 1 });
  }

  private async connect(first: boolean): Promise<void> {
    const { log } = this.options;
    const options = {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      fetch_types: false,
      connect_timeout: 5,
      onnotice: () => {},
      onnotify: (_channel: string, payload: string) => this.receive(payload),
      onclose: () => {
        if (this.listenSql !== sql || this.stopped) return;
        this.listening = false;
        log.warn('fan-out listener disconnected');
        this.scheduleReconnect();
      },
      connection: { application_name: 'chat-listener' },
    };
    // onnotify is a supported option that postgres.js's typings omit.
    const sql = postgres(this.options.url, options as postgres.Options<{}>);
    try {
      await sql`listen ${sql(CHANNEL)}`;
    } catch (error) {
      await sql.end({ timeout: 0 }).catch(() => {});
      if (first) throw error;
      log.warn({ err: error }, 'fan-out listener reconnect failed');
      this.scheduleReconnect();
      return;
    }
    const old = this.listenSql;
    this.listenSql = sql;
    if (old) void old.end({ timeout: 0 }).catch(() => {});
    this.listening = true;
    this.attempt = 0;
    if (!first) {
      log.info('fan-out listener re-subscribed; replaying from the database');
      this.options.onReconnect?.();
      this.listener?.onResubscribed();
    }
  }

  /** Equal-jitter backoff: half the step plus a random half, the step doubling to 5 s. */
  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    const step = Math.min(5000, (this.options.retryBaseMs ?? 100) * 2 ** this.attempt++);
    const delay = step / 2 + (Math.random() * step) / 2;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect(false);
    }, delay);
  }

  private receive(payload: string): void {
    const listener = this.listener;
    if (!listener) return;
    try {
      if (payload.startsWith('~')) {
        const a = payload.indexOf(' ');
        const b = payload.indexOf(' ', a + 1);
        listener.onSignal({ origin: payload.slice(1, a), target: payload.slice(a + 1, b), frame: payload.slice(b + 1) });
        return;
      }
      listener.onEvents(decodeEvents(payload));
    } catch (error) {
      this.options.log.error({ err: error }, 'undecodable fan-out payload');
    }
  }
}

export function encodeEvents(events: StreamEvent[]): string[] {
  const payloads: string[] = [];
  let current = '';
  let currentBytes = 0;
  for (const event of events) {
    const inline = event.frame !== null && Buffer.byteLength(event.frame) <= MAX_INLINE_FRAME_BYTES;
    const line = `${event.conversationId} ${event.seq} ${inline ? event.frame : '-'}`;
    const bytes = Buffer.byteLength(line);
    if (current && currentBytes + 1 + bytes > MAX_PAYLOAD_BYTES) {
      payloads.push(current);
      current = '';
      currentBytes = 0;
    }
    current = current ? `${current}\n${line}` : line;
    currentBytes += (currentBytes ? 1 : 0) + bytes;
  }
  if (current) payloads.push(current);
  return payloads;
}

export function decodeEvents(payload: string): StreamEvent[] {
  const events: StreamEvent[] = [];
  let start = 0;
  while (start < payload.length) {
    // Frames are JSON: they never contain a raw newline.
    let end = payload.indexOf('\n', start);
    if (end < 0) end = payload.length;
    const a = payload.indexOf(' ', start);
    const b = payload.indexOf(' ', a + 1);
    const frame = payload.slice(b + 1, end);
    events.push({ conversationId: payload.slice(start, a), seq: Number(payload.slice(a + 1, b)), frame: frame === '-' ? null : frame });
    start = end + 1;
  }
  return events;
}
