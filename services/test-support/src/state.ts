/** A client-side model of a conversation built only from stream events, as a real client would. */
import type { Frame } from './ws-client.ts';

export interface ConversationState {
  lastSeq: number;
  messages: Map<string, { seq: number; body: string | null; deleted: boolean; edited: boolean; reactions: Set<string> }>;
  members: Map<string, string>;
  reads: Map<string, number>;
  title: string | null;
}

export function emptyState(): ConversationState {
  return { lastSeq: 0, messages: new Map(), members: new Map(), reads: new Map(), title: null };
}

/** Applies events in seq order; throws on a gap or a duplicate, which a correct stream never has. */
export function apply(state: ConversationState, frame: Frame, strict = true): void {
  if (typeof frame.seq !== 'number') return;
  if (strict && frame.seq !== state.lastSeq + 1) throw new Error(`seq ${frame.seq} after ${state.lastSeq}`);
  state.lastSeq = frame.seq;
  switch (frame.type) {
    case 'message.created': {
      const m = frame.message;
      state.messages.set(m.id, { seq: m.seq, body: m.body, deleted: m.deletedAt !== null, edited: m.editedAt !== null, reactions: new Set() });
      break;
    }
    case 'message.edited': {
      const m = state.messages.get(frame.messageId)!;
      m.body = frame.body;
      m.edited = true;
      break;
    }
    case 'message.deleted': {
      const m = state.messages.get(frame.messageId)!;
      m.body = null;
      m.deleted = true;
      m.reactions.clear();
      break;
    }
    case 'reaction.added':
      state.messages.get(frame.messageId)!.reactions.add(`${frame.userId}:${frame.emoji}`);
      break;
    case 'reaction.removed':
      state.messages.get(frame.messageId)!.reactions.delete(`${frame.userId}:${frame.emoji}`);
      break;
    case 'member.added':
      state.members.set(frame.member.userId, frame.member.role);
      break;
    case 'member.removed':
      state.members.delete(frame.userId);
      break;
    case 'member.role_changed':
      state.members.set(frame.userId, frame.role);
      break;
    case 'read':
      state.reads.set(frame.userId, frame.upTo);
      break;
    case 'conversation.updated':
      state.title = frame.title;
      break;
  }
}
