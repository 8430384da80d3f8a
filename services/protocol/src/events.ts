/**
 * Server events. Everything that changes a conversation carries the conversation's
 * next `seq` (replayed on resume); signals (typing, presence, your own mute setting)
 * carry none and are never stored.
 */
import type { Member, Message, Role } from './models.ts';

interface StreamEventBase {
  conversationId: string;
  seq: number;
  /** Who made the change. */
  actorId: string;
  /** When it was committed (ISO 8601). */
  at: string;
}

export interface MessageCreatedEvent {
  type: 'message.created';
  conversationId: string;
  seq: number;
  message: Message;
}
export interface MessageEditedEvent extends StreamEventBase {
  type: 'message.edited';
  messageId: string;
  /** Null when the message was deleted later (bodies are erased on delete). */
  body: string | null;
  editedAt: string;
}
export interface MessageDeletedEvent extends StreamEventBase {
  type: 'message.deleted';
  messageId: string;
  deletedAt: string;
}
export interface ReactionEvent extends StreamEventBase {
  type: 'reaction.added' | 'reaction.removed';
  messageId: string;
  userId: string;
  emoji: string;
}
export interface MemberAddedEvent extends StreamEventBase {
  type: 'member.added';
  member: Member;
}
export interface MemberRemovedEvent extends StreamEventBase {
  type: 'member.removed';
  userId: string;
  reason: 'removed' | 'left';
}
export interface MemberRoleChangedEvent extends StreamEventBase {
  type: 'member.role_changed';
  userId: string;
  role: Role;
}
export interface ConversationUpdatedEvent extends StreamEventBase {
  type: 'conversation.updated';
  title: string | null;
  isPublic: boolean;
}
export interface ConversationDeletedEvent extends StreamEventBase {
  type: 'conversation.deleted';
}
/** `userId` has read (or had delivered) every message up to and including `upTo`. */
export interface ReceiptEvent extends StreamEventBase {
  type: 'read' | 'delivered';
  userId: string;
  upTo: number;
}

/**
 * A member's device set in the key directory changed (docs/e2e.md): a device was published,
 * rotated its encryption key, or was removed. Sent to each live encrypted conversation of
 * that user, in the seq stream, so a device that was offline learns it on resume. Clients
 * refetch the conversation's keys and show the key-change warning.
 */
export interface KeysChangedEvent extends StreamEventBase {
  type: 'keys.changed';
  /** Whose devices changed (the actor). */
  userId: string;
  deviceId: string;
  change: 'added' | 'rotated' | 'removed';
}

export type ConversationEvent =
  | MessageCreatedEvent
  | MessageEditedEvent
  | MessageDeletedEvent
  | ReactionEvent
  | MemberAddedEvent
  | MemberRemovedEvent
  | MemberRoleChangedEvent
  | ConversationUpdatedEvent
  | ConversationDeletedEvent
  | ReceiptEvent
  | KeysChangedEvent;

export type ConversationEventType = ConversationEvent['type'];

export interface TypingSignal {
  type: 'typing';
  conversationId: string;
  userId: string;
  state: 'start' | 'stop';
  /** Treat the indicator as gone after this long without a new start. */
  expiresInMs: number;
}
export interface PresenceSignal {
  type: 'presence';
  /** One of the conversations you share with the user (a user in several shared conversations may be reported once per conversation). */
  conversationId: string;
  userId: string;
  online: boolean;
  lastSeenAt: string | null;
}
/** Your own per-conversation settings changed in another tab. */
export interface MembershipSettingsSignal {
  type: 'membership.settings';
  conversationId: string;
  muted: boolean;
}

export type Signal = TypingSignal | PresenceSignal | MembershipSettingsSignal;
