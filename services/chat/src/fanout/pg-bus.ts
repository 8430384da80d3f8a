/**
 * LISTEN/NOTIFY bus. One dedicated connection per instance listens; writers NOTIFY
 * inside their transaction. A payload (kept far below the 8000-byte limit) is a JSON
 * array of records, so no field can end a record or start another, whatever a user id
 * or a body holds:
 *   ["e", conversationId, seq, frame | null, access | null]   a stream event; a null frame
 *                                                           is too large: read the row
 *   ["s", target, exclude | null, frame]                     a signal
 * access is null, ["removed", userId] or ["closed"]. Every decoded field is validated;
 * a record that fails is dropped and counted, never acted on. Records of one payload are
 * handled in order, so a control published after an event in the same transaction takes
 * effect after that event. The channel name carries the format's version.
 */
import { dsql, type Executor } from '@chat/db';
import postgres, { type Sql } from 'postgres';
import type { Logger } from 'pino';
import type { AccessChange, Bus, BusListener, Signal, StreamEvent } from './bus.ts';

const CHANNEL = 'chat_events_v2';
/** Postgres rejects payloads of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7500;
/** Event records larger than this (frames as JSON-escaped) travel by reference. */
const MAX_INLINE_FRAME_BYTES = 3000;

/**
 * One statement NOTIFYs every payload, in order: they travel as one JSON array parameter,
 * typed text so no driver re-serialises it (a text[] literal would need escaping of its own).
 */
const NOTIFY_ALL = `select pg_notify('${CHANNEL}', p) from json_array_elements_text($1::text::json) p`;
const notifyStatement = (payloads: string[]) => dsql`select pg_notify(${CHANNEL}, p) from json_array_elements_text(${JSON.stringify(payloads)}::text::json) p`;

/** For writers that NOTIFY from SQL in this format (the `chat_send_messages` function). */
export const NOTIFY_LIMITS = { channel: CHANNEL, maxPayloadBytes: MAX_PAYLOAD_BYTES, maxInlineFrameBytes: MAX_INLINE_FRAME_BYTES } as const;

export interface PgBusOptions {
  url: string;
  log: Logger;
  /** First reconnect delay; it doubles per failed attempt up to 5 s. */
  retryBaseMs?: number;
  onReconnect?: () => void;
  /** A record failed validation and was dropped. */
  onInvalid?: () => void;
}

export class PgBus implements Bus {
  readonly sqlNotify = NOTIFY_LIMITS;
  private listenSql: Sql | null = null;
  private listener: BusListener | null = null;
  private stopped = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  listening = false;
  private downSince: Date | null = null;

  constructor(private readonly options: PgBusOptions) {}

  async publish(tx: Executor, events: StreamEvent[], signals: Signal[] = []): Promise<void> {
    const payloads = encode(events, signals);
    if (payloads.length > 0) await tx.execute(notifyStatement(payloads));
  }

  /** Every instance LISTENs to everything: interest changes nothing here. */
  watch(_key: string): Promise<void> {
    return Promise.resolve();
  }

  unwatch(_key: string): void {}

  async signal(signals: Signal[]): Promise<void> {
    const sql = this.listenSql;
    if (!sql || !this.listening || signals.length === 0) return; // best-effort by design
    const payloads = encode([], signals);
    await sql.unsafe(NOTIFY_ALL, [JSON.stringify(payloads)]);
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
    const invalid = decode(payload, listener);
    if (invalid > 0) {
      this.options.onInvalid?.();
      this.options.log.error({ invalid }, 'dropped undecodable fan-out records');
    }
  }
}

function eventRecord(event: StreamEvent): string {
  const access = event.access === null ? null : event.access.kind === 'removed' ? ['removed', event.access.userId] : ['closed'];
  if (event.frame !== null) {
    const inline = JSON.stringify(['e', event.conversationId, event.seq, event.frame, access]);
    if (Buffer.byteLength(inline) <= MAX_INLINE_FRAME_BYTES) return inline;
  }
  return JSON.stringify(['e', event.conversationId, event.seq, null, access]);
}

function signalRecord(signal: Signal): string {
  const record = JSON.stringify(['s', signal.target, signal.exclude, signal.frame]);
  if (Buffer.byteLength(record) > MAX_PAYLOAD_BYTES - 2) throw new Error('signal frame too large for the bus');
  return record;
}

/** Packs records into as few JSON-array payloads as fit under the limit, keeping their order. */
export function encode(events: StreamEvent[], signals: Signal[] = []): string[] {
  const payloads: string[] = [];
  let current: string[] = [];
  let currentBytes = 2; // the brackets
  for (const record of [...events.map(eventRecord), ...signals.map(signalRecord)]) {
    const bytes = Buffer.byteLength(record);
    if (current.length > 0 && currentBytes + 1 + bytes > MAX_PAYLOAD_BYTES) {
      payloads.push(`[${current.join(',')}]`);
      current = [];
      currentBytes = 2;
    }
    currentBytes += (current.length > 0 ? 1 : 0) + bytes;
    current.push(record);
  }
  if (current.length > 0) payloads.push(`[${current.join(',')}]`);
  return payloads;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_USER_ID = 255;
const isUserId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_USER_ID;

function toAccess(value: unknown): AccessChange | null | undefined {
  if (value === null) return null;
  if (!Array.isArray(value)) return undefined;
  if (value.length === 1 && value[0] === 'closed') return { kind: 'closed' };
  if (value.length === 2 && value[0] === 'removed' && isUserId(value[1])) return { kind: 'removed', userId: value[1] };
  return undefined;
}

function toEvent(record: unknown[]): StreamEvent | null {
  const [, conversationId, seq, frame, rawAccess] = record;
  if (record.length !== 5 || typeof conversationId !== 'string' || !UUID.test(conversationId)) return null;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return null;
  if (frame !== null && typeof frame !== 'string') return null;
  const access = toAccess(rawAccess);
  if (access === undefined) return null;
  return { conversationId, seq, frame, access };
}

function toSignal(record: unknown[]): Signal | null {
  const [, target, exclude, frame] = record;
  if (record.length !== 4 || typeof target !== 'string' || typeof frame !== 'string') return null;
  const id = target.slice(2);
  const valid = target.startsWith('c:') ? UUID.test(id) : target.startsWith('u:') && isUserId(id);
  if (!valid || (exclude !== null && !isUserId(exclude))) return null;
  return { target, exclude, frame };
}

/**
 * Hands a payload's records to the listener in order; returns how many were dropped
 * as invalid (a payload that is not a JSON array counts as one).
 */
export function decode(payload: string, listener: Pick<BusListener, 'onEvents' | 'onSignal'>): number {
  let records: unknown;
  try {
    records = JSON.parse(payload);
  } catch {
    return 1;
  }
  if (!Array.isArray(records)) return 1;
  let invalid = 0;
  let events: StreamEvent[] = [];
  for (const record of records) {
    const kind = Array.isArray(record) ? record[0] : undefined;
    const event = kind === 'e' ? toEvent(record as unknown[]) : null;
    const signal = kind === 's' ? toSignal(record as unknown[]) : null;
    if (event) {
      events.push(event);
    } else if (signal) {
      if (events.length > 0) listener.onEvents(events);
      events = [];
      listener.onSignal(signal);
    } else {
      invalid++;
    }
  }
  if (events.length > 0) listener.onEvents(events);
  return invalid;
}
