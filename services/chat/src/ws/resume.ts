/**
 * Catching a socket up: subscribe it to conversations, replay from the database what it
 * missed, then let the live stream through. Live events arriving meanwhile wait in the
 * socket's backlog and are de-duplicated by seq, so the client sees each event once, in
 * order. Used by the `resume` frame and when the user is added to a conversation.
 *
 * Authorization: a subscription starts only from one snapshot that says both "the user is
 * a member" and "the stream is at seq N" (db/conversations.ts `streamPositions`), read
 * after the socket joined the room. A removal committed before that snapshot keeps the
 * socket out; one committed after it is an event above N, which ends the subscription
 * where it is delivered (ws/connection.ts). Whatever the order of resumes, adds and
 * removes, a socket gets an event only if its user was a member at that event's seq.
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
    // Which rooms to join; the snapshot taken after joining decides.
    const ids = await deps.chat.membershipIds(connection.userId);
    const { positions, replayed } = await catchUp(connection, ids, named, deps);
    connection.resumed = true;
    return { conversations: [...positions].map(([id, position]) => ({ id, lastSeq: position.lastSeq })), replayed };
  });
}

/** The user was just added to a conversation: stream it to this socket from the event that added them. */
export function subscribeFrom(connection: Connection, conversationId: string, deps: CatchUpDeps): Promise<void> {
  return connection.serially(async () => {
    // A socket that has not resumed yet gets this conversation with its first resume.
    if (!connection.resumed || connection.lastSent.has(conversationId)) return;
    await catchUp(connection, [conversationId], { [conversationId]: 0 }, deps);
  });
}

async function catchUp(
  connection: Connection,
  ids: string[],
  named: Record<string, number>,
  { chat, rooms, metrics }: CatchUpDeps,
): Promise<{ positions: Map<string, { lastSeq: number; joinedSeq: number }>; replayed: number }> {
  if (connection.closed) return { positions: new Map(), replayed: 0 };
  connection.startCatchUp();
  const fresh = ids.filter((id) => !connection.lastSent.has(id));
  let replayed = 0;
  try {
    // Join first (and wait until the bus delivers those rooms and the user's controls), then
    // read: nothing committed in between can be missed.
    await Promise.all([rooms.userWatched(connection.userId), ...fresh.map((id) => rooms.join(id, connection))]);
    const positions = ids.length > 0 ? await chat.streamPositions(connection.userId, ids) : new Map<string, { lastSeq: number; joinedSeq: number }>();
    for (const [id, { lastSeq, joinedSeq }] of positions) {
      rooms.initialize(id, lastSeq);
      // Never before the event that began this membership.
      const floor = Math.max(0, joinedSeq - 1);
      const from = named[id];
      if (from !== undefined) connection.lastSent.set(id, Math.max(floor, Math.min(from, lastSeq)));
      else if (!connection.lastSent.has(id)) connection.lastSent.set(id, lastSeq);
    }
    for (const [id, { lastSeq }] of positions) {
      let after = connection.lastSent.get(id);
      while (after !== undefined && after < lastSeq && !connection.closed) {
        const events = await chat.loadStream(id, after, REPLAY_PAGE);
        if (events.length === 0) break;
        connection.replay(id, events);
        replayed += events.length;
        after = connection.lastSent.get(id);
        // Backpressure: a page at a time, never more than the socket's buffer.
        await connection.flushed();
      }
    }
    metrics.replayedEvents.inc(replayed);
    return { positions, replayed };
  } finally {
    connection.endCatchUp();
    // Not a member after all, or the socket closed while we were reading (its close
    // handler ran before these joins): leave the rooms joined for nothing.
    for (const id of fresh) if (connection.closed || !connection.lastSent.has(id)) rooms.leave(id, connection);
  }
}
