/**
 * The chat operations shared by HTTP and WebSocket: authorization on every call,
 * then the repositories. No Fastify or ws here.
 */
import type { Conversation, ConversationList, HistoryPage, Role } from '@chat/protocol';
import type { Database } from '@chat/db';
import type { Sql } from 'postgres';
import type { Identity } from '../auth/session-token.ts';
import * as conversations from '../db/conversations.ts';
import { membersAddedSince } from '../db/events.ts';
import { ping } from '../db/health.ts';
import { conversationDevices, isEncrypted } from '../db/device-keys.ts';
import { createConversation } from '../db/membership-changes.ts';
import { messageCreatedFrame, writeMessages, type NewMessage, type WrittenMessage } from '../db/message-writes.ts';
import { historyPage, loadStream } from '../db/messages.ts';
import { upsertUsers, type UserUpsert } from '../db/users.ts';
import { AppError } from '../errors.ts';
import type { Bus, Signal, StreamEvent } from '../fanout/bus.ts';
import type { Metrics } from '../metrics.ts';
import { expectHeader, expectRecipients, parseEnvelope } from './envelope.ts';
import { GroupCommit, type Outcome } from './group-commit.ts';
import { ROLE_RANK } from './policy.ts';

export interface SendInput {
  conversationId: string;
  clientMsgId: string;
  body: string;
  replyToId?: string | undefined;
  attachmentIds?: string[] | undefined;
}

const SEEN_USERS_MAX = 50_000;
/** Conversations whose (immutable) encrypted flag an instance remembers. */
const ENCRYPTED_FLAGS_MAX = 100_000;
/** Send batches pipelined at once on the writer connection. */
const SENDS_IN_FLIGHT = 2;

export class Chat {
  private readonly sends: GroupCommit<NewMessage, WrittenMessage>;
  private readonly userWrites: GroupCommit<UserUpsert, void>;
  /** userId → "name\0image" last written, so reconnects do not rewrite unchanged users. */
  private readonly seenUsers = new Map<string, string>();
  /** conversationId → encrypted: set at creation and never changed, so it is cached without expiry. */
  private readonly encryptedFlags = new Map<string, boolean>();

  /**
   * The data layer's Drizzle handle and (below) the bus, for the domain modules
   * (actions.ts, reads.ts, presence.ts) that take a Chat; transports call methods instead.
   */
  readonly db: Database;

  constructor(
    handles: {
      db: Database;
      /** The one connection message sends are pipelined on, in submission order. */
      writer: Sql;
    },
    readonly bus: Bus,
    private readonly metrics: Metrics,
    readonly limits: { maxBodyChars: number; editWindowSec: number },
    /**
     * Sends waiting before a second batch is pipelined behind a running one (SEND_PIPELINE_AT).
     * Fewer join the next batch instead: a call costs the database ~0.3 ms of CPU whatever
     * its size and a message ~0.06 ms more (docs/benchmarks.md, "Send batches").
     */
    sendPipelineAt = 32,
  ) {
    this.db = handles.db;
    const { writer, db } = handles;
    this.sends = new GroupCommit((items) => writeMessages(writer, items, bus.sqlNotify).then((outcomes) => this.committed(outcomes)), { maxBatch: 512, maxInFlight: SENDS_IN_FLIGHT, pipelineAt: sendPipelineAt }, (n) =>
      metrics.sendBatchSize.observe(n),
    );
    this.userWrites = new GroupCommit<UserUpsert, void>(
      async (items) => {
        await upsertUsers(db, items);
        return items.map(() => ({ ok: true as const, value: undefined }));
      },
      { maxBatch: 1000 },
    );
  }

  /** A bus that cannot see the send statement's own publish gets the batch's new messages now, right after commit. */
  private committed(outcomes: Outcome<WrittenMessage>[]): Outcome<WrittenMessage>[] {
    if (!this.bus.committed) return outcomes;
    const events: StreamEvent[] = [];
    for (const outcome of outcomes) {
      if (!outcome?.ok || outcome.value.duplicate) continue;
      const { message } = outcome.value;
      events.push({ conversationId: message.conversationId, seq: message.seq, frame: messageCreatedFrame(message), access: null });
    }
    this.bus.committed(events);
    return outcomes;
  }

  /** Ephemeral signals (typing starts and stops) to every instance, stored nowhere. */
  signal(signals: Signal[]): Promise<void> {
    return this.bus.signal(signals);
  }

  /** Sends waiting for a batch. */
  get sendBacklog(): number {
    return this.sends.backlog;
  }

  /** Makes sure the token's user exists in `users` with its current name and image. */
  async ensureUser(identity: Identity): Promise<void> {
    const stamp = `${identity.name}\u0000${identity.image}`;
    if (this.seenUsers.get(identity.userId) === stamp) return;
    await this.userWrites.submit({ id: identity.userId, name: identity.name, image: identity.image });
    if (this.seenUsers.size >= SEEN_USERS_MAX) this.seenUsers.delete(this.seenUsers.keys().next().value!);
    this.seenUsers.set(identity.userId, stamp);
  }

  /**
   * The caller's effective role and the conversation's kind, or FORBIDDEN (also for
   * conversations that do not exist: non-members learn nothing). A system role acts as
   * that role everywhere.
   */
  async access(identity: Identity, conversationId: string): Promise<{ role: Role; kind: 'direct' | 'group'; member: boolean; encrypted: boolean }> {
    const found = await conversations.access(this.db, conversationId, identity.userId);
    if (found) this.rememberEncrypted(conversationId, found.encrypted);
    const own = found?.role ?? null;
    const system = found ? identity.systemRole : null;
    if (!own && !system) throw new AppError('FORBIDDEN', 'You are not a member of this conversation.');
    const role = !own ? system! : !system ? own : ROLE_RANK[system] > ROLE_RANK[own] ? system : own;
    return { role, kind: found!.kind, member: own !== null, encrypted: found!.encrypted };
  }

  private rememberEncrypted(conversationId: string, encrypted: boolean): void {
    if (this.encryptedFlags.has(conversationId)) return;
    if (this.encryptedFlags.size >= ENCRYPTED_FLAGS_MAX) this.encryptedFlags.delete(this.encryptedFlags.keys().next().value!);
    this.encryptedFlags.set(conversationId, encrypted);
  }

  /** Whether the conversation is end-to-end encrypted (false when it does not exist: the write path answers that). One read per conversation per instance. */
  async isEncrypted(conversationId: string): Promise<boolean> {
    const known = this.encryptedFlags.get(conversationId);
    if (known !== undefined) return known;
    const found = await isEncrypted(this.db, conversationId);
    if (found === null) return false;
    this.rememberEncrypted(conversationId, found);
    return found;
  }

  /**
   * A sealed body's checks that do not depend on a stored message (docs/e2e.md): an
   * envelope, from the caller, for this conversation, wrapped to exactly the members'
   * current devices. One directory read, which also checks membership.
   */
  async checkSealed(identity: Identity, conversationId: string, body: string) {
    const envelope = parseEnvelope(body);
    expectHeader(envelope, { senderId: identity.userId, conversationId });
    const directory = await conversationDevices(this.db, conversationId);
    if (!directory.members.includes(identity.userId)) throw new AppError('FORBIDDEN', 'You are not a member of this conversation.');
    expectRecipients(envelope, directory);
    return envelope;
  }

  async authorize(identity: Identity, conversationId: string): Promise<Role> {
    return (await this.access(identity, conversationId)).role;
  }

  /** Membership is checked inside the write transaction, under the conversation's lock. */
  async send(identity: Identity, input: SendInput): Promise<WrittenMessage> {
    if (await this.isEncrypted(input.conversationId)) {
      const envelope = await this.checkSealed(identity, input.conversationId, input.body);
      expectHeader(envelope, { clientMsgId: input.clientMsgId, replyToId: input.replyToId ?? null, edit: 0 });
    } else {
      this.checkBody(input.body, (input.attachmentIds?.length ?? 0) > 0);
    }
    const started = performance.now();
    const result = await this.sends.submit({
      conversationId: input.conversationId,
      senderId: identity.userId,
      clientMsgId: input.clientMsgId,
      body: input.body,
      replyToId: input.replyToId ?? null,
      attachmentIds: input.attachmentIds ?? [],
      privileged: identity.systemRole !== null,
    });
    this.metrics.sendCommitSeconds.observe((performance.now() - started) / 1000);
    if (!result.duplicate) this.metrics.messagesPersisted.inc();
    return result;
  }

  checkBody(body: string, hasAttachments = false): void {
    if (body.length > this.limits.maxBodyChars) {
      throw new AppError('PAYLOAD_TOO_LARGE', `A message is at most ${this.limits.maxBodyChars} characters.`);
    }
    if (body.trim().length === 0 && !hasAttachments) throw new AppError('VALIDATION_FAILED', 'A message needs some text or an attachment.');
  }

  async history(identity: Identity, conversationId: string, query: { before?: number; after?: number; limit: number }): Promise<HistoryPage> {
    const { encrypted } = await this.access(identity, conversationId);
    return historyPage(this.db, conversationId, { ...query, hideReplyPreviews: encrypted });
  }

  list(identity: Identity, query: { limit: number; cursor?: string }): Promise<ConversationList> {
    return conversations.listConversations(this.db, identity.userId, query);
  }

  async get(identity: Identity, conversationId: string): Promise<Conversation> {
    const role = await this.authorize(identity, conversationId);
    return conversations.getConversation(this.db, identity.userId, conversationId, role);
  }

  /** The pair's plain direct conversation, or (encrypted) their end-to-end encrypted one: two separate conversations. */
  async createDirect(identity: Identity, otherId: string, encrypted = false): Promise<{ conversation: Conversation; created: boolean }> {
    if (otherId === identity.userId) throw new AppError('VALIDATION_FAILED', 'A direct conversation needs another user.');
    await this.ensureUser(identity);
    const known = await conversations.existingUserIds(this.db, [otherId]);
    if (!known.has(otherId)) throw new AppError('NOT_FOUND', 'User not found.');
    const { id, created } = await createConversation(this.db, this.bus, {
      kind: 'direct',
      title: null,
      isPublic: false,
      creatorId: identity.userId,
      members: [identity.userId, otherId].map((userId) => ({ userId, role: 'member' as const })),
      encrypted,
    });
    return { conversation: await conversations.getConversation(this.db, identity.userId, id), created };
  }

  async createGroup(identity: Identity, input: { title: string; memberIds: string[]; isPublic: boolean }): Promise<Conversation> {
    await this.ensureUser(identity);
    const others = input.memberIds.filter((id) => id !== identity.userId);
    const known = await conversations.existingUserIds(this.db, others);
    const unknown = others.filter((id) => !known.has(id));
    if (unknown.length > 0) throw new AppError('NOT_FOUND', 'Some users do not exist.', { userIds: unknown });
    const { id } = await createConversation(this.db, this.bus, {
      kind: 'group',
      title: input.title,
      isPublic: input.isPublic,
      creatorId: identity.userId,
      members: [
        { userId: identity.userId, role: 'owner' as const },
        ...others.map((userId) => ({ userId, role: 'member' as const })),
      ],
    });
    return conversations.getConversation(this.db, identity.userId, id);
  }

  membershipIds(userId: string) {
    return conversations.membershipIds(this.db, userId);
  }

  streamPositions(userId: string, ids: string[]) {
    return conversations.streamPositions(this.db, userId, ids);
  }

  async loadStream(conversationId: string, afterSeq: number, limit: number) {
    return loadStream(this.db, conversationId, afterSeq, limit, await this.isEncrypted(conversationId));
  }

  /** The member.added events committed since `since`, oldest first (listener recovery). */
  membersAddedSince(since: Date): Promise<{ conversationId: string; userId: string }[]> {
    return membersAddedSince(this.db, since);
  }

  /** Resolves once the database answered a round trip (readiness). */
  ping(): Promise<void> {
    return ping(this.db);
  }

  /** Waits for queued writes (graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.all([this.sends.drain(), this.userWrites.drain()]);
  }
}
