/**
 * A fleet of load clients and everything measured about their messages:
 * send→ack and send→receive latency, losses (acked messages some member never got),
 * duplicates and ordering violations (per conversation seq where the system has one,
 * else per sender), plus the paced sender used by fanout, dm and resume-storm.
 */
import { now, pool, round, sleep } from './common.ts';
import type { ClientEvents, Delivery, Driver, LoadClient } from './drivers/types.ts';
import type { Population, LoadUser } from './setup.ts';
import { Latency, type LatencySummary } from './stats.ts';

/** Seq stream state of one (receiver, conversation) or (receiver, sender). */
interface StreamState {
  last: number;
  /** Numbers skipped over that may still arrive (late = ordering violation). */
  holes: Set<number> | null;
}

const MAX_TRACKED_HOLES = 10_000;

export interface Member {
  user: LoadUser;
  client: LoadClient | null;
  /** conversationId → last seq applied (ours/raw). */
  seqs: Map<string, StreamState>;
  /** senderIndex → last per-sender message number (systems without seqs). */
  bySender: Map<number, StreamState>;
  /** Own sends not yet acknowledged. */
  inflight: number;
  /** Per-sender message counter. */
  sentCount: number;
  /** Messages this member sent whose ack was lost with the connection (retried after reconnect). */
  retry: { conversationId: string; clientMsgId: string; body: string }[];
  reconnecting: boolean;
}

interface MessageRecord {
  sentAt: number;
  remaining: number;
  acked: boolean;
  conversationId: string;
}

export interface WindowStats {
  sendAck: Latency;
  sendReceive: Latency;
  sent: number;
  acked: number;
  deliveries: number;
  startedAt: number;
}

export interface MessagingReport {
  sent: number;
  acked: number;
  duplicateAcks: number;
  /** Sends re-sent (same clientMsgId) because the connection died before their ack; `sent` counts them again. */
  retried: number;
  sendErrors: Record<string, number>;
  deliveries: number;
  expectedDeliveries: number;
  losses: number;
  duplicates: number;
  orderingViolations: number;
  seqGaps: number;
  sendAckMs: LatencySummary;
  sendReceiveMs: LatencySummary;
}

function newWindow(): WindowStats {
  return { sendAck: new Latency(), sendReceive: new Latency(), sent: 0, acked: 0, deliveries: 0, startedAt: now() };
}

function advance(state: StreamState, n: number): 'ok' | 'duplicate' | 'late' | 'gap' {
  if (n === state.last + 1) {
    state.last = n;
    return 'ok';
  }
  if (n > state.last + 1) {
    if (n - state.last - 1 <= MAX_TRACKED_HOLES) {
      state.holes ??= new Set();
      for (let k = state.last + 1; k < n; k++) state.holes.add(k);
    }
    state.last = n;
    return 'gap';
  }
  if (state.holes?.delete(n)) return 'late';
  return 'duplicate';
}

export class Fleet {
  readonly members: Member[];
  readonly roomSizeOf = new Map<string, number>();
  private readonly records = new Map<string, MessageRecord>();
  window = newWindow();
  readonly total = { sendAck: new Latency(), sendReceive: new Latency() };
  counts = { sent: 0, acked: 0, duplicateAcks: 0, deliveries: 0, duplicates: 0, late: 0, gaps: 0, expected: 0, retried: 0 };
  sendErrors: Record<string, number> = {};
  connectFailures: Record<string, number> = {};
  connectLatency = new Latency();
  /** message.created (ours) / `message` (peer) frames received, with their payload bytes. */
  createdFrames = { count: 0, bytes: 0 };
  /** Called when a member's connection closes unexpectedly. */
  onMemberClosed: ((member: Member, code: number) => void) | null = null;
  private closing = false;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    readonly driver: Driver,
    readonly targets: string[],
    readonly population: Population,
    readonly options: { requestTimeoutMs: number; connectTimeoutMs: number; maxInflightPerClient: number },
  ) {
    this.members = population.users.map((user) => ({
      user,
      client: null,
      seqs: new Map(),
      bySender: new Map(),
      inflight: 0,
      sentCount: 0,
      retry: [],
      reconnecting: false,
    }));
    for (const room of population.rooms) this.roomSizeOf.set(room.id, room.members.length);
  }

  startSweeper(): void {
    this.sweeper = setInterval(() => {
      for (const m of this.members) m.client?.expire(this.options.requestTimeoutMs);
    }, 1000);
    this.sweeper.unref();
  }

  get connected(): number {
    let n = 0;
    for (const m of this.members) if (m.client?.open) n++;
    return n;
  }

  private events(member: Member): ClientEvents {
    return {
      onDelivery: (d) => this.onDelivery(member, d),
      onClose: (code) => {
        if (this.closing) return;
        this.onMemberClosed?.(member, code);
      },
    };
  }

  /** Connects one member to a target; records connect latency (upgrade → ready) or the failure. */
  async connect(member: Member, targetIndex = member.user.target): Promise<boolean> {
    const started = now();
    try {
      member.client = await this.driver.connect(this.targets[targetIndex]!, member.user, this.events(member), this.options.connectTimeoutMs);
      this.connectLatency.record(now() - started);
      return true;
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).message.slice(0, 40);
      this.connectFailures[code] = (this.connectFailures[code] ?? 0) + 1;
      return false;
    }
  }

  /** Resume/subscribe with the member's last seqs; initialises stream state from the answer. */
  async subscribe(member: Member): Promise<{ replayed: number; conversations: { id: string; lastSeq: number | null }[] }> {
    const lastSeqs: Record<string, number> = {};
    for (const [id, state] of member.seqs) lastSeqs[id] = state.last;
    const result = await member.client!.subscribe(lastSeqs);
    for (const c of result.conversations) {
      if (c.lastSeq !== null && !member.seqs.has(c.id)) member.seqs.set(c.id, { last: c.lastSeq, holes: null });
    }
    return result;
  }

  async connectAll(concurrency: number, subscribe = true): Promise<{ connected: number; failed: number; wallMs: number }> {
    const started = now();
    const results = await pool(this.members, concurrency, async (member) => {
      if (!(await this.connect(member))) return false;
      if (subscribe) await this.subscribe(member);
      return true;
    });
    const connected = results.filter((r) => r.status === 'fulfilled' && r.value).length;
    for (const r of results) {
      if (r.status === 'rejected') {
        const code = (r.reason as { code?: string }).code ?? 'SUBSCRIBE_FAILED';
        this.connectFailures[code] = (this.connectFailures[code] ?? 0) + 1;
      }
    }
    return { connected, failed: this.members.length - connected, wallMs: now() - started };
  }

  private onDelivery(member: Member, d: Delivery): void {
    const receivedAt = now();
    this.counts.deliveries++;
    this.window.deliveries++;
    if (d.bytes !== undefined) {
      this.createdFrames.count++;
      this.createdFrames.bytes += d.bytes;
    }
    let verdict: 'ok' | 'duplicate' | 'late' | 'gap';
    if (d.seq !== null) {
      let state = member.seqs.get(d.conversationId);
      if (!state) member.seqs.set(d.conversationId, (state = { last: d.seq - 1, holes: null }));
      verdict = advance(state, d.seq);
    } else {
      const dot = d.clientMsgId.indexOf('.');
      const sender = Number(d.clientMsgId.slice(0, dot));
      const n = Number(d.clientMsgId.slice(dot + 1));
      let state = member.bySender.get(sender);
      if (!state) member.bySender.set(sender, (state = { last: 0, holes: null }));
      verdict = advance(state, n);
    }
    if (verdict === 'duplicate') {
      this.counts.duplicates++;
      return;
    }
    if (verdict === 'late') this.counts.late++;
    else if (verdict === 'gap') this.counts.gaps++;
    const record = this.records.get(d.clientMsgId);
    if (record) {
      record.remaining--;
      if (record.remaining <= 0 && record.acked) this.records.delete(d.clientMsgId);
    }
    if (d.senderId !== member.user.id && d.body.charCodeAt(0) === 116 /* t */) {
      const latency = receivedAt - Number(d.body.slice(1));
      if (latency >= 0) {
        this.window.sendReceive.record(latency);
        this.total.sendReceive.record(latency);
      }
    }
  }

  /** One send from this member into one of its conversations. Returns false if it could not be sent now. */
  send(member: Member, conversationId: string): boolean {
    const client = member.client;
    if (!client?.open || member.reconnecting || member.inflight >= this.options.maxInflightPerClient) return false;
    const clientMsgId = `${member.user.index}.${++member.sentCount}`;
    const sentAt = now();
    const body = `t${sentAt.toFixed(3)}`;
    this.records.set(clientMsgId, { sentAt, remaining: this.roomSizeOf.get(conversationId) ?? 1, acked: false, conversationId });
    this.dispatch(member, conversationId, clientMsgId, body, sentAt);
    return true;
  }

  private dispatch(member: Member, conversationId: string, clientMsgId: string, body: string, sentAt: number): void {
    const client = member.client!;
    member.inflight++;
    this.counts.sent++;
    this.window.sent++;
    client.send(conversationId, clientMsgId, body).then(
      (ack) => {
        member.inflight--;
        const latency = now() - sentAt;
        this.window.sendAck.record(latency);
        this.total.sendAck.record(latency);
        this.counts.acked++;
        this.window.acked++;
        if (ack.duplicate) this.counts.duplicateAcks++;
        const record = this.records.get(clientMsgId);
        if (record && !record.acked) {
          record.acked = true;
          this.counts.expected += this.roomSizeOf.get(record.conversationId) ?? 1;
          if (record.remaining <= 0) this.records.delete(clientMsgId);
        }
      },
      (error: { code?: string }) => {
        member.inflight--;
        const code = error.code ?? 'ERROR';
        // The connection died with the send in flight: retry with the same clientMsgId after the reconnect
        // (idempotent: the service answers with the original message if it had committed).
        if (code === 'CONNECTION_CLOSED' && this.onMemberClosed && !this.closing) {
          member.retry.push({ conversationId, clientMsgId, body });
          return;
        }
        this.sendErrors[code] = (this.sendErrors[code] ?? 0) + 1;
      },
    );
  }

  /** Re-sends the sends whose ack was lost; their original send time is kept. */
  retryPending(member: Member): void {
    const retries = member.retry.splice(0);
    this.counts.retried += retries.length;
    for (const r of retries) this.dispatch(member, r.conversationId, r.clientMsgId, r.body, Number(r.body.slice(1)));
  }

  takeWindow(): WindowStats {
    const w = this.window;
    this.window = newWindow();
    return w;
  }

  /** Waits until every acked message reached every member (or the time is up). */
  async drain(maxMs: number): Promise<number> {
    const deadline = now() + maxMs;
    for (;;) {
      const outstanding = this.outstanding();
      if (outstanding === 0 || now() > deadline) return outstanding;
      await sleep(50);
    }
  }

  /** Deliveries still owed for acked messages, plus sends still awaiting their ack. */
  outstanding(): number {
    let n = 0;
    for (const r of this.records.values()) if (r.remaining > 0 || !r.acked) n += Math.max(1, r.remaining);
    return n;
  }

  report(): MessagingReport {
    let losses = 0;
    for (const r of this.records.values()) if (r.acked && r.remaining > 0) losses += r.remaining;
    // Every acked message owes one delivery per member of its conversation (the sender's own socket included).
    const expected = this.counts.expected;
    let seqGaps = 0;
    for (const m of this.members) for (const s of m.seqs.values()) seqGaps += s.holes?.size ?? 0;
    return {
      sent: this.counts.sent,
      acked: this.counts.acked,
      duplicateAcks: this.counts.duplicateAcks,
      retried: this.counts.retried,
      sendErrors: this.sendErrors,
      deliveries: this.counts.deliveries,
      expectedDeliveries: expected,
      losses,
      duplicates: this.counts.duplicates,
      orderingViolations: this.counts.late,
      seqGaps,
      sendAckMs: this.total.sendAck.summary(),
      sendReceiveMs: this.total.sendReceive.summary(),
    };
  }

  async closeAll(): Promise<void> {
    this.closing = true;
    if (this.sweeper) clearInterval(this.sweeper);
    await pool(this.members, 500, async (m) => {
      await m.client?.close();
    });
  }
}

/**
 * Sends at a fixed total rate, round-robin over members that can send. Ticks every 5 ms and
 * sends what is due; if the generator falls behind it does not burst more than 100 ms worth.
 */
export class Pacer {
  private timer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private due = 0;
  private cursor = 0;
  skipped = 0;
  rate: number;

  constructor(
    private readonly fleet: Fleet,
    rate: number,
  ) {
    this.rate = rate;
  }

  start(): void {
    this.startedAt = now();
    this.due = 0;
    const tick = () => {
      const elapsed = now() - this.startedAt;
      const target = (elapsed * this.rate) / 1000;
      let toSend = Math.floor(target - this.due);
      const maxBurst = Math.max(1, Math.ceil(this.rate / 10));
      if (toSend > maxBurst) {
        this.due += toSend - maxBurst; // dropped: generator behind
        this.skipped += toSend - maxBurst;
        toSend = maxBurst;
      }
      const members = this.fleet.members;
      let attempts = 0;
      while (toSend > 0 && attempts < members.length) {
        const member = members[this.cursor]!;
        this.cursor = (this.cursor + 1) % members.length;
        const conversations = member.user.conversations;
        if (conversations.length === 0) {
          attempts++;
          continue;
        }
        const conversationId = conversations[member.sentCount % conversations.length]!;
        if (this.fleet.send(member, conversationId)) {
          toSend--;
          this.due++;
          attempts = 0;
        } else attempts++;
      }
      if (toSend > 0) {
        this.due += toSend;
        this.skipped += toSend;
      }
      this.timer = setTimeout(tick, 5);
    };
    tick();
  }

  setRate(rate: number): void {
    // Restart the schedule so the new rate applies from now.
    this.rate = rate;
    this.startedAt = now();
    this.due = 0;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

export function rates(w: WindowStats): { sendsPerSec: number; acksPerSec: number; deliveriesPerSec: number } {
  const seconds = Math.max(0.001, (now() - w.startedAt) / 1000);
  return { sendsPerSec: round(w.sent / seconds, 1), acksPerSec: round(w.acked / seconds, 1), deliveriesPerSec: round(w.deliveries / seconds, 1) };
}
