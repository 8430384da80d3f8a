/**
 * NATS JetStream bus, routed by interest. Subjects (prefix `chat` by default):
 *   <prefix>.ev.c.<conversationId>   committed stream events and room signals (JetStream)
 *   <prefix>.ev.u.<user key>         committed per-user controls (member.added)  (JetStream)
 *   <prefix>.sig.c.<id> / .sig.u.<k>  best-effort signals: typing, presence       (core NATS)
 * A user key is a hash of the user id (base64url), so no user id shapes a subject; the
 * payload carries the full target and receivers act on that. An instance subscribes to
 * `<prefix>.*.c.<id>` for each conversation its sockets hold and `<prefix>.*.u.<key>` for
 * each user with a socket here (`watch`/`unwatch`), with core subscriptions: JetStream
 * stores what is published on `ev.`, de-duplicated by its `Nats-Msg-Id`, and delivery to the
 * instances is the subject's ordinary fan-out.
 *
 * Nothing committed is lost between commit and publish: every event and control is written
 * to the outbox in its own transaction (db/bus-outbox.ts). Right after the commit, the
 * writing instance publishes it (with its frame) and deletes the rows once a flush confirmed
 * that the server routed them; any instance's relay (nats-outbox.ts) publishes rows older
 * than a bound by reference (frame null: receivers read the row), each acknowledged by
 * JetStream. Message ids are `<conversationId>:<seq>`
 * for events and `s:<outbox id>` for controls, so the writer's and the relay's publishes of
 * one event are one message in the stream. A subscriber may still see both copies (core
 * delivery happens before de-duplication): rooms pass each seq once (ws/rooms.ts).
 *
 * Each NATS message is one record of the PgBus format (pg-bus.ts), validated by the same
 * decoder. While the connection is down nothing is delivered; when it is back the listener
 * is told (`onResubscribed`) and recovers from the database, as with LISTEN/NOTIFY.
 */
import type { Database, Executor } from '@chat/db';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { deleteOutbox, writeOutboxEvents, writeOutboxSignals } from '../db/bus-outbox.ts';
import type { Bus, BusListener, Signal, SqlNotifyTarget, StreamEvent } from './bus.ts';
import { OutboxRelay } from './nats-outbox.ts';
import { connectionOptions, ensureStream, eventRecord, signalRecord, signalTarget, subjectFor } from './nats-wire.ts';
import { decode } from './pg-bus.ts';

/** Outbox rows deleted per statement at most, and how long confirmed rows wait for company. */
const DELETE_BATCH = 1000;
const DELETE_DELAY_MS = 20;
const FLUSH_TIMEOUT_MS = 5000;

export interface NatsBusOptions {
  /** nats:// or tls:// URLs. */
  servers: string[];
  /** The Drizzle handle: its transactions publish after commit, the outbox lives there. */
  db: Database;
  log: Logger;
  name: string;
  /** Subject prefix (one token) and JetStream stream name. */
  subjectPrefix: string;
  stream: string;
  streamReplicas: number;
  credsFile?: string | null;
  user?: string | null;
  pass?: string | null;
  token?: string | null;
  tls?: { caFile?: string; certFile?: string; keyFile?: string } | null;
  /** Outbox rows older than this are relayed by whichever instance holds the relay lock. */
  relayAfterMs: number;
  reconnectWaitMs?: number;
  metrics?: NatsBusMetrics;
  /** Test only: the process SIGKILLs itself right after a send commits, before publishing it. */
  killAfterCommit?: boolean;
}

export interface NatsBusMetrics {
  connected(up: boolean): void;
  publishSeconds(seconds: number): void;
  /** Publishes JetStream reported as already stored (a relay or retry after the writer). */
  duplicates(n: number): void;
  publishFailures(n: number): void;
  relayed(events: number, signals: number, maxAgeSeconds: number): void;
  reconnects(): void;
}

interface Outgoing {
  subject: string;
  record: string;
  msgID: string;
}

export class NatsBus implements Bus {
  /** The send statement still NOTIFYs; by reference only (small), on a channel nobody listens to. */
  readonly sqlNotify: SqlNotifyTarget = { channel: 'chat_events_v2_unrouted', maxPayloadBytes: 7500, maxInlineFrameBytes: 0 };
  listening = false;
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private listener: BusListener | null = null;
  private readonly subs = new Map<string, Subscription>();
  private readonly pendingByTx = new WeakMap<object, { events: StreamEvent[]; signals: Signal[]; signalIds: number[] }>();
  private stopped = false;
  private downSince: Date | null = null;
  private relay: OutboxRelay | null = null;
  private flushWaiters: (() => void)[] | null = null;
  /** Confirmed publishes whose outbox rows are not deleted yet (deleted in batches). */
  private done: { events: { conversationId: string; seq: number }[]; signalIds: number[] } = { events: [], signalIds: [] };
  private deleteTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: NatsBusOptions) {
    this.hookTransactions(options.db);
  }

  get subscriptions(): number {
    return this.subs.size;
  }

  async start(listener: BusListener): Promise<void> {
    this.listener = listener;
    const nc = await connect(connectionOptions(this.options));
    this.nc = nc;
    this.js = jetstream(nc);
    await ensureStream(nc, this.options);
    this.listening = true;
    this.options.metrics?.connected(true);
    void this.watchStatus(nc);
    this.relay = new OutboxRelay(this.options.db, this.options.relayAfterMs, this.options.log, (batch) => this.publishRelayed(batch), this.options.metrics, () => this.listening);
    this.relay.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.relay?.stop();
    await this.deleteDone();
    this.listening = false;
    this.options.metrics?.connected(false);
    const nc = this.nc;
    this.nc = null;
    this.subs.clear();
    if (nc && !nc.isClosed()) await nc.close().catch(() => {});
  }

  async publish(tx: Executor, events: StreamEvent[], signals: Signal[] = []): Promise<void> {
    const [, signalIds] = await Promise.all([
      writeOutboxEvents(tx, events),
      writeOutboxSignals(tx, signals.map(signalRecord)),
    ]);
    const pending = this.pendingByTx.get(tx);
    if (!pending) return; // a transaction this bus does not see commit: the relay publishes it
    pending.events.push(...events);
    pending.signals.push(...signals);
    pending.signalIds.push(...signalIds);
  }

  committed(events: StreamEvent[]): void {
    if (events.length === 0) return;
    if (this.options.killAfterCommit) process.kill(process.pid, 'SIGKILL');
    void this.publishCommitted(events, [], []);
  }

  async signal(signals: Signal[]): Promise<void> {
    const nc = this.nc;
    if (!nc || !this.listening) return; // best-effort by design
    for (const signal of signals) nc.publish(subjectFor(this.options.subjectPrefix, 'sig', signal.target), `[${signalRecord(signal)}]`);
  }

  watch(key: string): Promise<void> {
    const nc = this.nc;
    if (!nc || this.subs.has(key)) return Promise.resolve();
    const subject = subjectFor(this.options.subjectPrefix, '*', key);
    this.subs.set(key, nc.subscribe(subject, { callback: (error, msg) => (error ? this.options.log.warn({ err: error }, 'nats subscription error') : this.receive(msg.string())) }));
    return this.flushed();
  }

  unwatch(key: string): void {
    const sub = this.subs.get(key);
    if (!sub) return;
    this.subs.delete(key);
    sub.unsubscribe();
  }

  /**
   * Resolves once the server has the subscriptions made so far: one PING/PONG for all the
   * watches of a tick. While disconnected it resolves at once (the resubscribe recovers).
   */
  private flushed(): Promise<void> {
    if (this.flushWaiters) return new Promise((resolve) => this.flushWaiters!.push(resolve));
    const waiters: (() => void)[] = [];
    this.flushWaiters = waiters;
    return new Promise((resolve) => {
      waiters.push(resolve);
      setImmediate(() => {
        this.flushWaiters = null;
        const nc = this.nc;
        const done = () => waiters.forEach((w) => w());
        if (!nc || !this.listening) return done();
        nc.flush().then(done, done);
      });
    });
  }



  private async watchStatus(nc: NatsConnection): Promise<void> {
    const { log, metrics } = this.options;
    for await (const status of nc.status()) {
      if (this.stopped || this.nc !== nc) return;
      if (status.type === 'disconnect') {
        this.listening = false;
        this.downSince ??= new Date();
        metrics?.connected(false);
        log.warn('nats bus disconnected');
      } else if (status.type === 'reconnect') {
        // The client re-sent every subscription; once the server answers a flush they are live.
        try {
          await nc.flush();
          await ensureStream(nc, this.options);
        } catch (error) {
          log.warn({ err: error }, 'nats bus: re-subscribing failed; waiting for the next reconnect');
          continue;
        }
        const downSince = this.downSince ?? new Date();
        this.downSince = null;
        this.listening = true;
        metrics?.connected(true);
        metrics?.reconnects();
        log.info('nats bus re-subscribed; replaying from the database');
        this.listener?.onResubscribed(downSince);
      }
    }
  }

  /**
   * Wraps the handle's `transaction` once, so what `publish(tx, …)` recorded is published
   * right after that transaction commits (and dropped if it rolls back). Transactions on
   * other handles still reach subscribers, through the outbox relay.
   */
  private hookTransactions(db: Database): void {
    const original = db.transaction.bind(db);
    const wrapped: Database['transaction'] = async (run, config) => {
      let pending: { events: StreamEvent[]; signals: Signal[]; signalIds: number[] } | null = null;
      const result = await original(async (tx) => {
        pending = { events: [], signals: [], signalIds: [] };
        this.pendingByTx.set(tx, pending);
        return run(tx);
      }, config);
      const p = pending as { events: StreamEvent[]; signals: Signal[]; signalIds: number[] } | null;
      if (p && (p.events.length > 0 || p.signals.length > 0)) void this.publishCommitted(p.events, p.signals, p.signalIds);
      return result;
    };
    db.transaction = wrapped;
  }

  /** The writer's publish, right after commit: frames inline; rows deleted once the server confirmed. */
  private async publishCommitted(events: StreamEvent[], signals: Signal[], signalIds: number[]): Promise<void> {
    const outgoing: Outgoing[] = [
      ...events.map((e) => ({ subject: subjectFor(this.options.subjectPrefix, 'ev', `c:${e.conversationId}`), record: eventRecord(e), msgID: `${e.conversationId}:${e.seq}` })),
      ...signals.map((s, i) => ({ subject: subjectFor(this.options.subjectPrefix, 'ev', s.target), record: signalRecord(s), msgID: `s:${signalIds[i]}` })),
    ];
    if (!(await this.sendFast(outgoing))) return; // the relay publishes them after the bound
    this.done.events.push(...events.map((e) => ({ conversationId: e.conversationId, seq: e.seq })));
    this.done.signalIds.push(...signalIds);
    if (this.done.events.length + this.done.signalIds.length >= DELETE_BATCH) void this.deleteDone();
    else this.deleteTimer ??= setTimeout(() => void this.deleteDone(), DELETE_DELAY_MS);
  }

  /**
   * Deletes the rows of what the server confirmed, many publishes in one statement. A row
   * whose delete is lost (a crash in these milliseconds) is published once more by the relay,
   * which the stream and the rooms de-duplicate.
   */
  private async deleteDone(): Promise<void> {
    if (this.deleteTimer) clearTimeout(this.deleteTimer);
    this.deleteTimer = null;
    const { events, signalIds } = this.done;
    if (events.length === 0 && signalIds.length === 0) return;
    this.done = { events: [], signalIds: [] };
    try {
      await deleteOutbox(this.options.db, events, signalIds);
    } catch (error) {
      this.options.log.warn({ err: error }, 'nats bus: deleting published outbox rows failed (the relay will publish them again)');
    }
  }

  /** The relay's publish: events by reference, controls as stored. Throws when not all were acknowledged. */
  private async publishRelayed(batch: { events: { conversationId: string; seq: number }[]; signals: { id: number; record: string }[] }): Promise<void> {
    const outgoing: Outgoing[] = [
      ...batch.events.map((e) => ({
        subject: subjectFor(this.options.subjectPrefix, 'ev', `c:${e.conversationId}`),
        record: JSON.stringify(['e', e.conversationId, e.seq, null, null]),
        msgID: `${e.conversationId}:${e.seq}`,
      })),
      ...batch.signals.flatMap((s) => {
        const target = signalTarget(s.record);
        return target === null ? [] : [{ subject: subjectFor(this.options.subjectPrefix, 'ev', target), record: s.record, msgID: `s:${s.id}` }];
      }),
    ];
    if (!(await this.send(outgoing))) throw new Error('nats bus: relay publish not acknowledged');
  }

  /**
   * The writer's publish: in order, each with its `Nats-Msg-Id` header (the stream
   * de-duplicates on it whoever publishes) but without asking for JetStream's
   * acknowledgement, then one flush: once the server answered it, it has routed every
   * message to the subscribers, which is what live delivery needs. Skipped while
   * disconnected (nothing would be delivered; the relay publishes after the bound).
   */
  private async sendFast(outgoing: Outgoing[]): Promise<boolean> {
    const nc = this.nc;
    const { metrics, log } = this.options;
    if (outgoing.length === 0) return true;
    if (!nc || !this.listening) return false;
    const started = performance.now();
    try {
      for (const o of outgoing) {
        const h = headers();
        h.set('Nats-Msg-Id', o.msgID);
        nc.publish(o.subject, `[${o.record}]`, { headers: h });
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('flush timed out')), FLUSH_TIMEOUT_MS);
        nc.flush().then(
          () => (clearTimeout(timer), resolve()),
          (error: unknown) => (clearTimeout(timer), reject(error)),
        );
      });
    } catch (error) {
      metrics?.publishFailures(outgoing.length);
      log.warn({ err: error, messages: outgoing.length }, 'nats bus: publish not confirmed; the outbox relay publishes it');
      return false;
    }
    metrics?.publishSeconds((performance.now() - started) / 1000);
    return true;
  }

  /** The relay's publish: pipelined JetStream publishes, each acknowledged; false if any failed. */
  private async send(outgoing: Outgoing[]): Promise<boolean> {
    const js = this.js;
    const { metrics, log } = this.options;
    if (!js || outgoing.length === 0) return outgoing.length === 0;
    const started = performance.now();
    const results = await Promise.allSettled(outgoing.map((o) => js.publish(o.subject, `[${o.record}]`, { msgID: o.msgID, timeout: 5000 })));
    metrics?.publishSeconds((performance.now() - started) / 1000);
    let failed = 0;
    let duplicates = 0;
    for (const result of results) {
      if (result.status === 'rejected') failed++;
      else if (result.value.duplicate) duplicates++;
    }
    if (duplicates > 0) metrics?.duplicates(duplicates);
    if (failed > 0) {
      metrics?.publishFailures(failed);
      const reason = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      log.warn({ err: reason.reason, failed }, 'nats bus: publish not acknowledged; the outbox relay retries');
      return false;
    }
    return true;
  }

  private receive(payload: string): void {
    const listener = this.listener;
    if (!listener) return;
    const invalid = decode(payload, listener);
    if (invalid > 0) this.options.log.error({ invalid }, 'dropped undecodable fan-out records');
  }

}
