/**
 * Incoming frames → de-duplicated conversation events and signals. Keeps the last seq
 * per conversation (an event at or below it is ignored), and learns conversations from
 * resume acks and conversation lists.
 */
import type { ConversationEvent, Message, Signal } from '@chat/protocol';
import type { Emit } from './emitter.ts';
import { ChatError } from './errors.ts';
import { SeqTracker } from './seqs.ts';

/** Emitted after every resume (and, while polling, after each conversation list refresh). */
export interface ConversationsInfo {
  /** Every conversation of the user with its last seq. */
  conversations: { id: string; lastSeq: number }[];
  /** Ids the client did not name before: load their history (they are tracked from `lastSeq` on). */
  added: string[];
}

export interface StreamEvents {
  event: ConversationEvent;
  signal: Signal;
  conversations: ConversationsInfo;
  /** Errors not tied to a call: an error frame without an id, a failed resume. */
  error: ChatError;
}

const SIGNAL_TYPES = new Set(['typing', 'presence', 'membership.settings']);

export class EventStream {
  readonly seqs = new SeqTracker();
  userId: string | null = null;

  constructor(
    private readonly emit: Emit<StreamEvents>,
    /** Our own message arrived: settles its outbox item even if the ack was lost. */
    private readonly onOwnMessage: (message: Message) => void,
  ) {}

  onFrame(frame: { type: string; [key: string]: unknown }): void {
    if (SIGNAL_TYPES.has(frame.type)) return this.emit('signal', frame as unknown as Signal);
    if (frame.type === 'error') return this.emit('error', ChatError.fromBody(frame));
    if (typeof frame.conversationId === 'string' && typeof frame.seq === 'number') this.onEvent(frame as unknown as ConversationEvent);
  }

  onEvent(event: ConversationEvent): void {
    if (!this.seqs.accept(event.conversationId, event.seq)) return;
    if (event.type === 'message.created' && event.message.senderId === this.userId) this.onOwnMessage(event.message);
    if (event.type === 'conversation.deleted' || (event.type === 'member.removed' && event.userId === this.userId)) {
      this.seqs.retire(event.conversationId);
    } else if (event.type === 'member.added' && event.member.userId === this.userId) {
      this.seqs.track(event.conversationId, event.seq); // (re)joined: resume and poll it again
    }
    this.emit('event', event);
  }

  /** From a resume ack (named = the ids the resume named) or a conversation list (named = tracked ids). */
  applyConversations(list: { id: string; lastSeq: number }[], named: Set<string>): void {
    const added = list.filter((c) => !named.has(c.id)).map((c) => c.id);
    // Unnamed conversations start live at their current seq (the resume rules).
    for (const c of list) if (!named.has(c.id)) this.seqs.track(c.id, c.lastSeq);
    this.emit('conversations', { conversations: list, added });
  }
}
