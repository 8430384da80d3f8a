/**
 * The chat service's schema. One per-conversation sequence (`conversations.last_seq`)
 * orders everything that changes a conversation: messages take a `seq` in `messages`,
 * every other change (edit, delete, reaction, membership, read mark) takes one in
 * `events`. A client that knows its last seq can be brought up to date from these two
 * tables alone.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });
const seqColumn = (name: string) => bigint(name, { mode: 'number' });
const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const users = pgTable('users', {
  /** The token's `sub`. */
  id: text('id').primaryKey(),
  name: text('name'),
  image: text('image'),
  createdAt: at('created_at').notNull().defaultNow(),
  lastSeenAt: at('last_seen_at'),
});

export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: text('kind', { enum: ['direct', 'group'] }).notNull(),
    title: text('title'),
    creatorId: text('creator_id').notNull().references(() => users.id),
    isPublic: boolean('is_public').notNull().default(false),
    /** `min(a,b) + ' ' + max(a,b)` for direct conversations: one per pair. */
    directKey: text('direct_key'),
    /**
     * End-to-end encrypted (docs/e2e.md, migration 0009): bodies are sealed envelopes the
     * service cannot open. Direct conversations only; set at creation, never changed. A pair
     * has at most one plain and one encrypted direct conversation.
     */
    encrypted: boolean('encrypted').notNull().default(false),
    lastSeq: seqColumn('last_seq').notNull().default(0),
    lastActivityAt: at('last_activity_at').notNull().defaultNow(),
    createdAt: at('created_at').notNull().defaultNow(),
    deletedAt: at('deleted_at'),
  },
  (t) => [
    uniqueIndex('conversations_direct_key_uq').on(t.directKey, t.encrypted),
    index('conversations_public_idx')
      .on(t.lastActivityAt.desc(), t.id)
      .where(sql`${t.isPublic} and ${t.deletedAt} is null`),
    check('conversations_kind_ck', sql`${t.kind} in ('direct', 'group')`),
    check('conversations_direct_key_ck', sql`(${t.kind} = 'direct') = (${t.directKey} is not null)`),
    check('conversations_encrypted_ck', sql`not ${t.encrypted} or ${t.kind} = 'direct'`),
  ],
);

export const members = pgTable(
  'members',
  {
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    role: text('role', { enum: ['owner', 'admin', 'member'] }).notNull().default('member'),
    joinedAt: at('joined_at').notNull().defaultNow(),
    /**
     * The seq of the member.added event that began this membership (0 for the members a
     * conversation was created with). A socket's stream starts no earlier: it receives an
     * event only if its user was a member at that event's seq.
     */
    joinedSeq: seqColumn('joined_seq').notNull().default(0),
    lastReadSeq: seqColumn('last_read_seq').notNull().default(0),
    lastDeliveredSeq: seqColumn('last_delivered_seq').notNull().default(0),
    muted: boolean('muted').notNull().default(false),
  },
  (t) => [
    primaryKey({ columns: [t.conversationId, t.userId] }),
    // "My conversations" reads only this index.
    index('members_user_idx').on(t.userId, t.conversationId),
    check('members_role_ck', sql`${t.role} in ('owner', 'admin', 'member')`),
  ],
);

export const messages = pgTable(
  'messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    seq: seqColumn('seq').notNull(),
    senderId: text('sender_id')
      .notNull()
      .references(() => users.id),
    clientMsgId: text('client_msg_id').notNull(),
    /** Null once deleted: a tombstone keeps its place, not its text. */
    body: text('body'),
    replyToId: uuid('reply_to_id'),
    /** Attachment metadata (id, filename, contentType, size), denormalised for history reads. */
    attachments: jsonb('attachments').$type<{ id: string; filename: string; contentType: string; size: number }[]>(),
    createdAt: at('created_at').notNull().defaultNow(),
    editedAt: at('edited_at'),
    deletedAt: at('deleted_at'),
    searchVector: tsvector('search_vector').generatedAlwaysAs(
      sql`to_tsvector('simple', coalesce(body, ''))`,
    ),
  },
  (t) => [
    // History pages walk this index by (conversation, seq) in either direction.
    uniqueIndex('messages_conversation_seq_uq').on(t.conversationId, t.seq),
    uniqueIndex('messages_sender_client_msg_uq').on(t.senderId, t.clientMsgId),
    index('messages_reply_idx').on(t.replyToId, t.seq).where(sql`${t.replyToId} is not null`),
    index('messages_search_idx').using('gin', t.searchVector),
  ],
);

/** Every change to a conversation other than a new message, in the same seq stream. */
export const events = pgTable(
  'events',
  {
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    seq: seqColumn('seq').notNull(),
    type: text('type').notNull(),
    actorId: text('actor_id').notNull(),
    messageId: uuid('message_id'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.conversationId, t.seq] }),
    // After a listener outage, instances look up the membership changes they missed.
    index('events_membership_idx').on(t.createdAt).where(sql`${t.type} in ('member.added', 'member.removed', 'conversation.deleted')`),
  ],
);

export const messageEdits = pgTable(
  'message_edits',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    messageId: uuid('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    /** The body before this edit; cleared when the message is deleted. */
    previousBody: text('previous_body'),
    editedAt: at('edited_at').notNull().defaultNow(),
  },
  (t) => [index('message_edits_message_idx').on(t.messageId, t.id)],
);

export const reactions = pgTable(
  'reactions',
  {
    messageId: uuid('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    emoji: text('emoji').notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.messageId, t.emoji, t.userId] })],
);

export const attachments = pgTable(
  'attachments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    uploaderId: text('uploader_id')
      .notNull()
      .references(() => users.id),
    messageId: uuid('message_id'),
    filename: text('filename').notNull(),
    contentType: text('content_type').notNull(),
    size: integer('size').notNull(),
    storageKey: text('storage_key').notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [index('attachments_message_idx').on(t.messageId)],
);

/**
 * Who is online: one row per (instance, user) with open sockets. Instances refresh
 * `expires_at` on a heartbeat, so the users of an instance that died expire by themselves.
 */
export const presenceSessions = pgTable(
  'presence_sessions',
  {
    instanceId: text('instance_id').notNull(),
    userId: text('user_id').notNull(),
    expiresAt: at('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.instanceId, t.userId] }), index('presence_sessions_user_idx').on(t.userId, t.expiresAt)],
);

/**
 * The NATS bus's transactional outbox (services/chat/src/fanout/nats-outbox.ts). A stream
 * event committed by an instance on BUS=nats has a row here, written in its own
 * transaction: by the bus for events it publishes, by the `messages_bus_outbox` trigger
 * for message sends (the send statement is SQL, and the trigger writes only on connections
 * that set `chat.bus_outbox = on`). The writer deletes its rows once JetStream acknowledged
 * the publish; a relay publishes whatever is older than a bound. The row holds only the
 * position: receivers read the event itself from `messages`/`events`.
 */
export const busOutbox = pgTable(
  'bus_outbox',
  {
    conversationId: uuid('conversation_id').notNull(),
    seq: seqColumn('seq').notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.conversationId, t.seq] })],
);

/** Membership controls and room signals published inside a transaction on BUS=nats: the JSON record as the bus encodes it. */
export const busOutboxSignals = pgTable('bus_outbox_signals', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  record: text('record').notNull(),
  createdAt: at('created_at').notNull().defaultNow(),
});

/**
 * Web Push (migration 0007, services/chat/src/push/). One row per browser push subscription
 * (a device): the endpoint is the push service's capability URL, unique across users (the
 * last user who registered it on that browser owns it). `p256dh` and `auth` are the
 * browser's keys (RFC 8291), base64url.
 */
export const pushSubscriptions = pgTable(
  'push_subscriptions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    endpoint: text('endpoint').notNull(),
    p256dh: text('p256dh').notNull(),
    auth: text('auth').notNull(),
    label: text('label'),
    createdAt: at('created_at').notNull().defaultNow(),
    lastSentAt: at('last_sent_at'),
  },
  (t) => [uniqueIndex('push_subscriptions_endpoint_uq').on(t.endpoint), index('push_subscriptions_user_idx').on(t.userId)],
);

/** A user's push settings: global on/off and how much a notification shows ('sender' or 'message'). No row: on, 'sender'. */
export const pushSettings = pgTable(
  'push_settings',
  {
    userId: text('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    enabled: boolean('enabled').notNull().default(true),
    preview: text('preview', { enum: ['sender', 'message'] }).notNull().default('sender'),
  },
  (t) => [check('push_settings_preview_ck', sql`${t.preview} in ('sender', 'message')`)],
);

/**
 * What was sent: per device and conversation, the highest message seq a notification
 * covered. A push job sends to a device only above it, under this row's lock, so two jobs
 * never notify one device twice for the same message.
 */
export const pushDeliveries = pgTable(
  'push_deliveries',
  {
    subscriptionId: uuid('subscription_id')
      .notNull()
      .references(() => pushSubscriptions.id, { onDelete: 'cascade' }),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    lastSeq: seqColumn('last_seq').notNull().default(0),
    sentAt: at('sent_at'),
  },
  (t) => [primaryKey({ columns: [t.subscriptionId, t.conversationId] })],
);

/**
 * Webhook events that exhausted their attempts (migration 0008, services/chat/src/webhooks/):
 * one row per endpoint and event, with the last answer, for an operator to inspect and replay.
 */
export const webhookDeadLetters = pgTable(
  'webhook_dead_letters',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    endpointId: text('endpoint_id').notNull(),
    eventId: text('event_id').notNull(),
    eventType: text('event_type').notNull(),
    payload: text('payload'),
    attempts: integer('attempts').notNull(),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    failedAt: at('failed_at').notNull().defaultNow(),
    /** Set once an operator replayed it (webhooks:replay) and the endpoint answered 2xx. */
    replayedAt: at('replayed_at'),
    /** The conversation and seq of the event (migration 0010; null on older rows): replays go in this order. */
    conversationId: uuid('conversation_id'),
    seq: seqColumn('seq'),
  },
  (t) => [index('webhook_dead_letters_endpoint_idx').on(t.endpointId, t.failedAt)],
);

/**
 * Where each webhook endpoint stands in each conversation (migration 0010): every event up
 * to `deliveredSeq` was delivered or dead-lettered. The statement triggers on `messages` and
 * `events` insert the row (at the first subscribed event's seq - 1) and enqueue the pair's
 * drain job; the drain delivers what lies above the cursor in seq order. `failures` and
 * `failingSince` (the created_at of the event that keeps failing) drive back-off, the
 * backlog gauge and dead-lettering by age.
 */
export const webhookCursors = pgTable(
  'webhook_cursors',
  {
    endpointId: text('endpoint_id').notNull(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    deliveredSeq: seqColumn('delivered_seq').notNull(),
    failures: integer('failures').notNull().default(0),
    failingSince: at('failing_since'),
  },
  (t) => [primaryKey({ columns: [t.endpointId, t.conversationId] }), index('webhook_cursors_failing_idx').on(t.endpointId, t.failingSince).where(sql`${t.failingSince} is not null`)],
);

/**
 * The end-to-end encryption key directory (migration 0009, docs/e2e.md): one row per
 * (user, device), the device's signed public bundle (protocol e2e.ts DeviceBundle). The
 * identity key never changes for a device; `encryption_key_id` only grows.
 */
export const deviceKeys = pgTable(
  'device_keys',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    deviceId: text('device_id').notNull(),
    identityKey: text('identity_key').notNull(),
    encryptionKeyId: integer('encryption_key_id').notNull(),
    bundle: jsonb('bundle').$type<Record<string, unknown>>().notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
    updatedAt: at('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.deviceId] })],
);
