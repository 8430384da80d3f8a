/**
 * Resume: subscribe the socket to every conversation of its user, replay from the
 * database what it missed in the conversations it named, then let the live stream
 * through. Live events arriving meanwhile wait in the socket's backlog and are
 * de-duplicated by seq, so the client sees each event once, in order.
 */
import type { ResumeResult } from '@chat/protocol';
import type { Chat } from '../domain/chat.ts';
import type { Metrics } from '../metrics.ts';
import type { Connection } from './connection.ts';
import type { Rooms } from './rooms.ts';

const REPLAY_PAGE = 500;

export async function resume(
  connection: Connection,
  named: Record<string, number>,
  deps: { chat: Chat; rooms: Rooms; metrics: Metrics },
): Promise<ResumeResult> {
  const { chat, rooms, metrics } = deps;
  connection.startCatchUp();
  let replayed = 0;
  let joined: string[] = [];
  try {
    const mine = await chat.memberships(connection.userId);
    const ids = mine.map((m) => m.id);
    const fresh = ids.filter((id) => !connection.lastSent.has(id));
    // Join first, then read: nothing committed in between can be missed.
    if (connection.closed) return { conversations: [], replayed: 0 };
    for (const id of fresh) rooms.join(id, connection);
    joined = fresh;
    const current = ids.length > 0 ? await chat.lastSeqs(ids) : new Map<string, number>();
    for (const id of ids) {
      const last = current.get(id) ?? 0;
      rooms.initialize(id, last);
      const from = named[id];
      if (from !== undefined) connection.lastSent.set(id, Math.min(from, last));
      else if (!connection.lastSent.has(id)) connection.lastSent.set(id, last);
    }
    for (const id of ids) {
      const last = current.get(id) ?? 0;
      let after = connection.lastSent.get(id)!;
      while (after < last && !connection.closed) {
        const events = await chat.loadStream(id, after, REPLAY_PAGE);
        for (const event of events) connection.sendRaw(event.frame);
        replayed += events.length;
        if (events.length === 0) break;
        after = events[events.length - 1]!.seq;
        connection.lastSent.set(id, after);
        // Backpressure: a page at a time, never more than the socket's buffer.
        await connection.flushed();
      }
    }
    metrics.replayedEvents.inc(replayed);
    return { conversations: ids.map((id) => ({ id, lastSeq: current.get(id) ?? 0 })), replayed };
  } finally {
    connection.endCatchUp();
    // The socket may have closed while we were reading; its close handler ran before these joins.
    if (connection.closed) for (const id of joined) rooms.leave(id, connection);
  }
}
