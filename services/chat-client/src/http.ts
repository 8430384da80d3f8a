/**
 * The /v1 HTTP API with a bearer token from `getToken()` on every call. Every failure
 * is a ChatError: the server's typed code (from its `{code, message, retryable}` body),
 * or TIMEOUT / NETWORK when no answer came.
 */
import type {
  AttachmentRef,
  ChangeResult,
  Conversation,
  ConversationEvent,
  ConversationList,
  EditHistory,
  HistoryPage,
  MessageReceipts,
  PublicConversationList,
  RepliesPage,
  Role,
  SearchPage,
  SendResult,
  User,
} from '@chat/protocol';
import type { Static } from '@sinclair/typebox';
import { ChatError } from './errors.ts';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface HttpOptions {
  /** Service origin, e.g. 'http://127.0.0.1:4000' (no trailing /v1). */
  httpUrl: string;
  getToken: () => Promise<string> | string;
  fetch?: FetchLike;
  timeoutMs?: number;
}

export type PublicConversations = Static<typeof PublicConversationList>;
export interface EventsPage {
  /** Ascending seq; the same frames a socket receives. */
  events: ConversationEvent[];
  /** Seq of the last event returned, or `after` when there were none. */
  lastSeq: number;
}

type Query = Record<string, string | number | boolean | undefined | null>;
interface Call {
  query?: Query;
  json?: unknown;
  body?: Blob;
  contentType?: string;
}

export class ChatHttp {
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: HttpOptions) {
    this.base = options.httpUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The signed-in user. @example const { id } = await client.http.me(); */
  me(): Promise<User> {
    return this.call('GET', '/v1/me');
  }

  /** A page of your conversations, most recent activity first. @example const { conversations, nextCursor } = await client.http.conversations({ limit: 20 }); */
  conversations(page: { limit?: number; cursor?: string } = {}): Promise<ConversationList> {
    return this.call('GET', '/v1/conversations', { query: page });
  }

  /** One conversation with its members. @example const c = await client.http.conversation(id); */
  conversation(id: string): Promise<Conversation> {
    return this.call('GET', `/v1/conversations/${enc(id)}`);
  }

  /**
   * A page of messages in ascending seq. `before` pages backwards, `after` forwards.
   * @example const { messages, hasMore } = await client.http.history(id, { before: oldestSeq, limit: 50 });
   */
  history(id: string, page: { before?: number; after?: number; limit?: number } = {}): Promise<HistoryPage> {
    return this.call('GET', `/v1/conversations/${enc(id)}/messages`, { query: page });
  }

  /** Opens (or returns the existing) direct conversation with a user. @example const c = await client.http.createDirect('bob'); */
  createDirect(userId: string): Promise<Conversation> {
    return this.call('POST', '/v1/conversations/direct', { json: { userId } });
  }

  /** Creates a group. @example await client.http.createGroup({ title: 'Team', memberIds: ['bob'] }); */
  createGroup(group: { title: string; memberIds?: string[]; isPublic?: boolean }): Promise<Conversation> {
    return this.call('POST', '/v1/conversations', { json: { memberIds: [], isPublic: false, ...group } });
  }

  /**
   * Sends a message over HTTP (idempotent by clientMsgId). Prefer `client.send()`, which queues and retries.
   * @example await client.http.send(id, { clientMsgId: crypto.randomUUID(), body: 'hi' });
   */
  send(id: string, message: { clientMsgId: string; body: string; replyToId?: string | null; attachmentIds?: string[] }): Promise<SendResult> {
    const { replyToId, attachmentIds, ...rest } = message;
    const json = { ...rest, ...(replyToId ? { replyToId } : {}), ...(attachmentIds?.length ? { attachmentIds } : {}) };
    return this.call('POST', `/v1/conversations/${enc(id)}/messages`, { json });
  }

  /** The event stream after a seq (for polling). @example const { events, lastSeq } = await client.http.events(id, { after: 10 }); */
  events(id: string, page: { after: number; limit?: number }): Promise<EventsPage> {
    return this.call('GET', `/v1/conversations/${enc(id)}/events`, { query: page });
  }

  /** Public groups you can join. @example const { conversations } = await client.http.publicConversations(); */
  publicConversations(page: { limit?: number; cursor?: string } = {}): Promise<PublicConversations> {
    return this.call('GET', '/v1/conversations/public', { query: page });
  }

  /** Joins a public group. @example await client.http.join(id); */
  join(id: string): Promise<{ seqs: number[] }> {
    return this.call('POST', `/v1/conversations/${enc(id)}/join`);
  }

  /**
   * Uploads a file (raw body, the Blob's type as Content-Type); send the returned id in `attachmentIds`.
   * @example const ref = await client.http.upload(id, file, file.name); client.send({ conversationId: id, body: 'see file', attachmentIds: [ref.id] });
   */
  upload(conversationId: string, file: Blob, filename: string): Promise<AttachmentRef> {
    return this.call('POST', `/v1/conversations/${enc(conversationId)}/attachments`, {
      query: { filename },
      body: file,
      contentType: file.type || 'application/octet-stream',
    });
  }

  /**
   * The download URL of an attachment. It needs credentials: fetch it with the bearer
   * token, rely on the session cookie, or pass `token` to put it in the query (for <img src>).
   * @example img.src = client.http.attachmentUrl(ref.id, await getToken());
   */
  attachmentUrl(id: string, token?: string): string {
    const url = `${this.base}/v1/attachments/${enc(id)}`;
    return token ? `${url}?token=${encodeURIComponent(token)}` : url;
  }

  /**
   * Full-text search over your conversations (web-search syntax), newest first, with plain-text
   * snippets; page with `before: page.nextCursor`.
   * @example const { results } = await client.http.search({ q: 'invoice' }); results[0]?.snippet.map((s) => s.text).join('');
   */
  search(params: { q: string; conversationId?: string; limit?: number; before?: string }): Promise<SearchPage> {
    return this.call('GET', '/v1/search', { query: params });
  }

  /** Replies to a message, ascending seq. @example const { messages, hasMore } = await client.http.replies(id, messageId); */
  replies(id: string, messageId: string, page: { after?: number; limit?: number } = {}): Promise<RepliesPage> {
    return this.call('GET', `/v1/conversations/${enc(id)}/messages/${enc(messageId)}/replies`, { query: page });
  }

  /** A message's earlier bodies, oldest first. @example const { edits } = await client.http.editHistory(id, messageId); */
  editHistory(id: string, messageId: string): Promise<EditHistory> {
    return this.call('GET', `/v1/conversations/${enc(id)}/messages/${enc(messageId)}/edits`);
  }

  /** Who has received and read a message. @example const { members } = await client.http.receipts(id, messageId); */
  receipts(id: string, messageId: string): Promise<MessageReceipts> {
    return this.call('GET', `/v1/conversations/${enc(id)}/messages/${enc(messageId)}/receipts`);
  }

  /** Edits your message. @example await client.http.edit(id, messageId, 'fixed'); */
  edit(id: string, messageId: string, body: string): Promise<ChangeResult> {
    return this.call('PATCH', `/v1/conversations/${enc(id)}/messages/${enc(messageId)}`, { json: { body } });
  }

  /** Deletes a message. @example await client.http.remove(id, messageId); */
  remove(id: string, messageId: string): Promise<ChangeResult> {
    return this.call('DELETE', `/v1/conversations/${enc(id)}/messages/${enc(messageId)}`);
  }

  /** Adds or removes a reaction. @example await client.http.react(id, messageId, '👍', true); */
  react(id: string, messageId: string, emoji: string, add: boolean): Promise<ChangeResult> {
    return this.call(add ? 'PUT' : 'DELETE', `/v1/conversations/${enc(id)}/messages/${enc(messageId)}/reactions/${enc(emoji)}`);
  }

  /** Marks messages up to a seq as read. @example await client.http.markRead(id, lastSeq); */
  markRead(id: string, upTo: number): Promise<ChangeResult> {
    return this.call('POST', `/v1/conversations/${enc(id)}/read`, { json: { upTo } });
  }

  /** Marks messages up to a seq as delivered. @example await client.http.markDelivered(id, lastSeq); */
  markDelivered(id: string, upTo: number): Promise<ChangeResult> {
    return this.call('POST', `/v1/conversations/${enc(id)}/delivered`, { json: { upTo } });
  }

  /** Typing indicator for clients without a socket. @example await client.http.typing(id, 'start'); */
  typing(id: string, state: 'start' | 'stop'): Promise<{ forwarded: boolean }> {
    return this.call('POST', `/v1/conversations/${enc(id)}/typing`, { json: { state } });
  }

  /** Adds members to a group (owner/admin). @example await client.http.addMembers(id, ['carol']); */
  addMembers(id: string, userIds: string[]): Promise<{ seqs: number[] }> {
    return this.call('POST', `/v1/conversations/${enc(id)}/members`, { json: { userIds } });
  }

  /** Removes a member (owner/admin). @example await client.http.removeMember(id, 'carol'); */
  removeMember(id: string, userId: string): Promise<ChangeResult> {
    return this.call('DELETE', `/v1/conversations/${enc(id)}/members/${enc(userId)}`);
  }

  /** Leaves a conversation. @example await client.http.leave(id); */
  leave(id: string): Promise<ChangeResult> {
    return this.call('POST', `/v1/conversations/${enc(id)}/leave`);
  }

  /** Changes a member's role (owner). @example await client.http.setRole(id, 'carol', 'admin'); */
  setRole(id: string, userId: string, role: Role): Promise<ChangeResult> {
    return this.call('PUT', `/v1/conversations/${enc(id)}/members/${enc(userId)}/role`, { json: { role } });
  }

  /** Renames a group or changes its visibility. @example await client.http.updateConversation(id, { title: 'New name' }); */
  updateConversation(id: string, change: { title?: string; isPublic?: boolean }): Promise<ChangeResult> {
    return this.call('PATCH', `/v1/conversations/${enc(id)}`, { json: change });
  }

  /** Deletes a conversation (owner). @example await client.http.deleteConversation(id); */
  deleteConversation(id: string): Promise<ChangeResult> {
    return this.call('DELETE', `/v1/conversations/${enc(id)}`);
  }

  /** Mutes or unmutes a conversation for you. @example await client.http.mute(id, true); */
  mute(id: string, muted: boolean): Promise<{ muted: boolean }> {
    return this.call('PUT', `/v1/conversations/${enc(id)}/mute`, { json: { muted } });
  }

  /** @internal Any authenticated /v1 call, for the SDK's own modules (e2e/key-directory.ts). */
  async call<T>(method: string, path: string, call: Call = {}): Promise<T> {
    const fetchImpl = this.options.fetch ?? (globalThis.fetch ? globalThis.fetch.bind(globalThis) : undefined);
    if (!fetchImpl) throw new ChatError('NETWORK', 'No fetch implementation: pass options.fetch.');
    let token: string;
    try {
      token = await this.options.getToken();
    } catch (error) {
      throw ChatError.from(error);
    }
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    let body: BodyInit | undefined;
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.json);
    } else if (call.body !== undefined) {
      headers['content-type'] = call.contentType ?? 'application/octet-stream';
      body = call.body;
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    try {
      const response = await fetchImpl(this.base + path + queryString(call.query), { method, headers, body, signal: controller.signal });
      const text = await response.text();
      let parsed: unknown = undefined;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: a proxy's error page, for example
      }
      if (!response.ok) throw ChatError.fromBody(parsed ?? { message: text.slice(0, 200) || `HTTP ${response.status}` }, response.status);
      return parsed as T;
    } catch (error) {
      if (error instanceof ChatError) throw error;
      if (timedOut) throw new ChatError('TIMEOUT', `${method} ${path} did not answer within ${this.timeoutMs} ms.`);
      throw ChatError.from(error);
    } finally {
      clearTimeout(timer);
    }
  }
}

const enc = encodeURIComponent;

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}
