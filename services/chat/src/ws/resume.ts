/**
 * Catching a socket up: subscribe it to conversations, replay from the database what it
 * missed, then let the live stream through. Live events arriving meanwhile wait in the
 * socket's backlog and are de-duplicated by seq, so the client sees each event once, in
 * order. Used by the `resume` frame and when the user is added to a conversation.
 */
import type { ResumeResult } from '@chat/protocol';
import type { Chat } from '../domain/chat.ts';
import type { Metrics } from '../metrics.ts';
import type { Connection } from './connection.ts';
import type { Rooms } from './rooms.ts';

const REPLAY_PAGE = 500;

export interface CatchUpDeps {
  chat: Chat;
  rooms: Rooms;
  metrics: Metrics;
}

export async function resume(connection: Connection, named: Record<string, number>, deps: CatchUpDeps): Promise<ResumeResult> {
  return connection.serially(async () => {
    const ids = (await deps.chat.memberships(connection.userId)).map((m) => m.id);
    const { current, replayed } = await catchUp(connection, ids, named, deps);
    connection.resumed = true;
    return { conversations: ids.map((id) => ({ id, lastSeq: current.get(id) ?? 0 })), replayed };
  });
}

/** The user was just added to a conversation at `seq`: stream it to this socket from that event on. */
export function subscribeFrom(connection: Connection, conversationId: string, seq: number, deps: CatchUpDeps): Promise<void> {
  return connection.serially(async () => {
    // A socket that has not resumed yet gets this conversation with its first resume.
    if (!connection.resumed || connection.lastSent.has(conversationId)) return;
    await catchUp(connection, [conversationId], { [conversationId]: seq - 1 }, deps);
  });
}

async function catchUp(
  connection: Connection,
  ids: string[],
  named: Record<string, number>,
  { chat, rooms, metrics }: CatchUpDeps,
): Promise<{ current: Map<string, number>; replayed: number }> {
  if (connection.closed) return { current: new Map(), replayed: 0 };
  connection.startCatchUp();
  const fresh = ids.filter((id) => !connection.lastSent.has(id));
  let replayed = 0;
  try {
    // Join first, then read: nothing committed in between can be missed.
    for (const id of fresh) rooms.join(id, connection);
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
        if (events.length === 0) break;
        for (const event of events) connection.sendRaw(event.frame);
        replayed += events.length;
        after = events[events.length - 1]!.seq;
        connection.lastSent.set(id, after);
        // Backpressure: a page at a time, never more than the socket's buffer.
        await connection.flushed();
      }
    }
    metrics.replayedEvents.inc(replayed);
    return { current, replayed };
  } finally {
    connection.endCatchUp();
    // The socket may have closed while we were reading; its close handler ran before these joins.
    if (connection.closed) for (const id of fresh) rooms.leave(id, connection);
  }
}
