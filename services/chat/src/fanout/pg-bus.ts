/**
 * LISTEN/NOTIFY bus. One dedicated connection per instance listens; writers NOTIFY
 * inside their transaction. Payload format (kept far below the 8000-byte limit):
 *   "<conversationId> <seq> <frame>"  lines, joined by "\n"   (stream events)
 *   "<conversationId> <seq> -"        the frame is too large: read it from the database
 *   "~<target> <exclude|-> <frame>"    a signal
 * Lines of one payload are handled in order, so a membership control published after
 * an event in the same transaction takes effect after that event.
 */
import postgres, { type Sql, type TransactionSql } from 'postgres';
import type { Logger } from 'pino';
import type { Bus, BusListener, Signal, StreamEvent } from './bus.ts';

const CHANNEL = 'chat_events';
/** Postgres rejects payloads of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7500;
/** Larger frames travel by reference. */
const MAX_INLINE_FRAME_BYTES = 3000;

/** For writers that NOTIFY from SQL in this format (the `chat_send_messages` function). */
export const NOTIFY_LIMITS = { channel: CHANNEL, maxPayloadBytes: MAX_PAYLOAD_BYTES, maxInlineFrameBytes: MAX_INLINE_FRAME_BYTES } as const;

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
  private downSince: Date | null = null;

  constructor(private readonly options: PgBusOptions) {}

  async publish(tx: TransactionSql | Sql, events: StreamEvent[], signals: Signal[] = []): Promise<void> {
    const payloads = encode(events, signals);
    if (payloads.length === 1) await tx`select pg_notify(${CHANNEL}, ${payloads[0]!})`;
    else if (payloads.length > 1) await tx`select pg_notify(${CHANNEL}, p) from unnest(${payloads}::text[]) p`;
  }

  async signal(signals: Signal[]): Promise<void> {
    const sql = this.listenSql;
    if (!sql || !this.listening || signals.length === 0) return; // best-effort by design
    await this.publish(sql, [], signals);
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
        this.downSince ??= new Date();
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
    const downSince = this.downSince;
    this.downSince = null;
    if (!first) {
      log.info('fan-out listener re-subscribed; replaying from the database');
      this.options.onReconnect?.();
      this.listener?.onResubscribed(downSince ?? new Date());
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
      decode(payload, listener);
    } catch (error) {
      this.options.log.error({ err: error }, 'undecodable fan-out payload');
    }
  }
}

function eventLine(event: StreamEvent): string {
  const inline = event.frame !== null && Buffer.byteLength(event.frame) <= MAX_INLINE_FRAME_BYTES;
  return `${event.conversationId} ${event.seq} ${inline ? event.frame : '-'}`;
}

function signalLine(signal: Signal): string {
  const line = `~${signal.target} ${signal.exclude ?? '-'} ${signal.frame}`;
  if (Buffer.byteLength(line) > MAX_PAYLOAD_BYTES) throw new Error('signal frame too large for the bus');
  return line;
}

/** Packs lines into as few payloads as fit under the limit, keeping their order. */
export function encode(events: StreamEvent[], signals: Signal[] = []): string[] {
  const payloads: string[] = [];
  let current = '';
  let currentBytes = 0;
  for (const line of [...events.map(eventLine), ...signals.map(signalLine)]) {
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

/** Frames are JSON: they never contain a raw newline, so lines split cleanly. */
export function decode(payload: string, listener: Pick<BusListener, 'onEvents' | 'onSignal'>): void {
  let events: StreamEvent[] = [];
  let start = 0;
  while (start < payload.length) {
    let end = payload.indexOf('\n', start);
    if (end < 0) end = payload.length;
    const a = payload.indexOf(' ', start);
    const b = payload.indexOf(' ', a + 1);
    const frame = payload.slice(b + 1, end);
    if (payload[start] === '~') {
      if (events.length) listener.onEvents(events);
      events = [];
      const exclude = payload.slice(a + 1, b);
      listener.onSignal({ target: payload.slice(start + 1, a), exclude: exclude === '-' ? null : exclude, frame });
    } else {
      events.push({ conversationId: payload.slice(start, a), seq: Number(payload.slice(a + 1, b)), frame: frame === '-' ? null : frame });
    }
    start = end + 1;
  }
  if (events.length) listener.onEvents(events);
}
