/**
 * The NATS bus's transactional outbox (tables `bus_outbox` and `bus_outbox_signals`,
 * migration 0006). Rows are written in the transaction that commits the events, deleted
 * by the writer once JetStream acknowledged their publish, and relayed by any instance
 * when they are older than a bound (fanout/nats-outbox.ts).
 */
import { dsql, schema, type Database, type Executor } from '@chat/db';

const { busOutbox, busOutboxSignals } = schema;

/** Lock key of the relay (one relay pass at a time, fleet-wide): 'chat' 'relay' as two int4. */
const RELAY_LOCK = [0x63686174, 0x72656c61] as const;

export interface OutboxEvent {
  conversationId: string;
  seq: number;
}

export interface OutboxSignal {
  id: number;
  record: string;
}

/** Stream positions committed with this transaction (a repeat of one already there is ignored). */
export async function writeOutboxEvents(tx: Executor, events: OutboxEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx.insert(busOutbox).values(events.map((e) => ({ conversationId: e.conversationId, seq: e.seq }))).onConflictDoNothing();
}

/** Signal records committed with this transaction; returns their ids, in order. */
export async function writeOutboxSignals(tx: Executor, records: string[]): Promise<number[]> {
  if (records.length === 0) return [];
  const rows = await tx.insert(busOutboxSignals).values(records.map((record) => ({ record }))).returning({ id: busOutboxSignals.id });
  return rows.map((row) => row.id);
}

/** The writer published these: their rows are done. */
export async function deleteOutbox(db: Executor, events: OutboxEvent[], signalIds: number[]): Promise<void> {
  const work: Promise<unknown>[] = [];
  if (events.length > 0) {
    const ids = JSON.stringify(events.map((e) => e.conversationId));
    const seqs = JSON.stringify(events.map((e) => e.seq));
    work.push(
      db.execute(dsql`delete from bus_outbox o using (
        select c::uuid as conversation_id, s::bigint as seq
        from json_array_elements_text(${ids}::text::json) with ordinality a(c, n)
        join json_array_elements_text(${seqs}::text::json) with ordinality b(s, m) on n = m) d
        where o.conversation_id = d.conversation_id and o.seq = d.seq`),
    );
  }
  if (signalIds.length > 0) {
    work.push(db.execute(dsql`delete from bus_outbox_signals where id in (select x::bigint from json_array_elements_text(${JSON.stringify(signalIds)}::text::json) x)`));
  }
  await Promise.all(work);
}

export interface RelayBatch {
  events: (OutboxEvent & { ageMs: number })[];
  signals: (OutboxSignal & { ageMs: number })[];
}

/**
 * One relay pass: in a transaction holding the fleet-wide relay lock (others skip their
 * pass), reads the rows older than `afterMs`, hands them to `publish`, and deletes them
 * once it resolved. If the process dies meanwhile, the transaction and its lock end with
 * the connection and the rows stay for the next pass. Returns null when another instance
 * holds the lock.
 */
export async function relayOutbox(db: Database, afterMs: number, limit: number, publish: (batch: RelayBatch) => Promise<void>): Promise<RelayBatch | null> {
  return db.transaction(async (tx) => {
    const [lock] = await tx.execute<{ locked: boolean }>(dsql`select pg_try_advisory_xact_lock(${RELAY_LOCK[0]}::int, ${RELAY_LOCK[1]}::int) as locked`);
    if (!lock?.locked) return null;
    const bound = dsql`now() - make_interval(secs => ${afterMs / 1000}::float8)`;
    const events = await tx.execute<{ conversation_id: string; seq: string | number; age_ms: number }>(dsql`
      select conversation_id, seq, (extract(epoch from clock_timestamp() - created_at) * 1000)::float8 as age_ms
      from bus_outbox where created_at < ${bound} order by created_at limit ${limit}`);
    const signals = await tx.execute<{ id: string | number; record: string; age_ms: number }>(dsql`
      select id, record, (extract(epoch from clock_timestamp() - created_at) * 1000)::float8 as age_ms
      from bus_outbox_signals where created_at < ${bound} order by id limit ${limit}`);
    const batch: RelayBatch = {
      events: [...events].map((r) => ({ conversationId: r.conversation_id, seq: Number(r.seq), ageMs: Number(r.age_ms) })),
      signals: [...signals].map((r) => ({ id: Number(r.id), record: r.record, ageMs: Number(r.age_ms) })),
    };
    if (batch.events.length === 0 && batch.signals.length === 0) return batch;
    await publish(batch);
    await deleteOutbox(tx, batch.events, batch.signals.map((s) => s.id));
    return batch;
  });
}
