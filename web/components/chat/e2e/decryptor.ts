/**
 * The one place where sealed messages become plaintext (docs/e2e.md, "The panel"): history
 * pages, live events, acks and the conversation list's last messages of encrypted conversations
 * pass through here before they reach the caches, so every view shows text (or a plain
 * failure) and never an envelope. Results are cached per (message, body); a page is opened in
 * seq order so the replay log sees the original before a later copy.
 */
import { openMessage, type E2EPlaintext } from '@chat/client';
import type { Conversation, ConversationEvent, ConversationList, HistoryPage, Message } from '@chat/protocol';
import type { E2ESession } from './device-keys';
import { E2E_PROBLEM, stateFor, type PanelMessage } from './message-states';

interface Opened {
  message: PanelMessage;
  /** Set when the message opened: what an edit re-seals (quote, attachments) and its edit counter. */
  plaintext: E2EPlaintext | null;
  edit: number;
}

/** A sealed body starts like this (JSON.stringify of an Envelope). */
export function looksSealed(body: string | null | undefined): boolean {
  return typeof body === 'string' && body.startsWith('{"v":1,"alg":');
}

export class Decryptor {
  private readonly results = new Map<string, Promise<Opened>>();
  private readonly latest = new Map<string, Opened>();
  /** What this device typed for its unacknowledged sealed messages (the outbox holds only envelopes). */
  readonly pending = new Map<string, string>();
  /** Conversation id → encrypted flag, from every conversation seen. */
  private readonly flags = new Map<string, boolean>();

  constructor(private readonly session: () => Promise<E2ESession>) {}

  note(conversation: Pick<Conversation, 'id' | 'encrypted'>): void {
    this.flags.set(conversation.id, conversation.encrypted === true);
  }

  /** Whether events of this conversation go through here (unknown conversations: by the body's shape). */
  isEncrypted(event: ConversationEvent): boolean {
    const known = this.flags.get(event.conversationId);
    if (known !== undefined) return known;
    return event.type === 'message.created' && looksSealed(event.message.body);
  }

  async message(message: Message): Promise<PanelMessage> {
    return (await this.open(message)).message;
  }

  /** The plaintext and edit counter of a message this device opened (for edits). */
  opened(messageId: string): { plaintext: E2EPlaintext; edit: number } | null {
    const o = this.latest.get(messageId);
    return o?.plaintext ? { plaintext: o.plaintext, edit: o.edit } : null;
  }

  async page(page: HistoryPage): Promise<HistoryPage> {
    const out = new Map<string, PanelMessage>();
    for (const m of [...page.messages].sort((a, b) => a.seq - b.seq)) out.set(m.id, await this.message(m));
    return { ...page, messages: page.messages.map((m) => out.get(m.id)!) };
  }

  async list(list: ConversationList): Promise<ConversationList> {
    for (const c of list.conversations) this.note(c);
    const conversations = await Promise.all(
      list.conversations.map(async (c) => (c.encrypted && c.lastMessage ? { ...c, lastMessage: await this.message(c.lastMessage) } : c)),
    );
    return { ...list, conversations };
  }

  /** The event with plaintext in place of envelopes (messages created, edits). */
  async event(event: ConversationEvent): Promise<ConversationEvent> {
    if (event.type === 'message.created') return { ...event, message: await this.message(event.message) };
    if (event.type === 'message.edited' && event.body !== null) {
      const original = this.latest.get(event.messageId)?.message;
      if (!original) return { ...event, body: E2E_PROBLEM.unverified };
      return { ...event, body: (await this.message({ ...original, body: event.body, editedAt: event.editedAt })).body };
    }
    return event;
  }

  /** Forget failed results (after accepting new keys), so they are opened again. */
  forgetFailures(): void {
    for (const [key, result] of this.results) void result.then((o) => o.plaintext === null && this.results.delete(key));
  }

  /** Local search over the messages this device decrypted (the service cannot search them). */
  search(query: string): PanelMessage[] {
    const q = query.toLowerCase();
    return [...this.latest.values()].filter((o) => o.plaintext && !o.message.deletedAt && o.plaintext.body.toLowerCase().includes(q)).map((o) => o.message);
  }

  private open(message: Message): Promise<Opened> {
    if (message.body === null) return Promise.resolve({ message, plaintext: null, edit: 0 });
    const key = `${message.id}\n${message.body}`;
    let result = this.results.get(key);
    if (!result) {
      result = this.openNow(message);
      this.results.set(key, result);
    }
    return result.then((o) => {
      // A later copy of the message (reactions, edits) keeps its own fields; the opened parts come from the result.
      const merged: Opened = { ...o, message: { ...message, body: o.message.body, replyTo: o.message.replyTo, attachments: o.message.attachments, e2e: o.message.e2e } };
      this.latest.set(message.id, merged);
      return merged;
    });
  }

  private async openNow(message: Message): Promise<Opened> {
    try {
      const result = await openMessage(await this.session(), message);
      if (!result.ok) {
        const state = stateFor(result.reason);
        return { message: { ...message, body: E2E_PROBLEM[state], replyTo: null, attachments: [], e2e: state }, plaintext: null, edit: 0 };
      }
      const { plaintext } = result;
      const quote = plaintext.quote;
      const opened: PanelMessage = {
        ...message,
        body: plaintext.body,
        // The quote travels inside the ciphertext; the service's preview is of an envelope.
        replyTo: message.replyToId && quote ? { id: message.replyToId, senderId: quote.senderId, preview: quote.preview } : null,
        attachments: plaintext.attachments.map((a) => ({ id: a.id, filename: a.filename, contentType: a.contentType, size: a.size, key: a.key, nonce: a.nonce })),
        e2e: 'ok',
      };
      return { message: opened, plaintext, edit: result.edit };
    } catch {
      // The directory could not be read (offline): try again on the next copy.
      const key = `${message.id}\n${message.body}`;
      queueMicrotask(() => this.results.delete(key));
      return { message: { ...message, body: E2E_PROBLEM.unverified, replyTo: null, attachments: [], e2e: 'unverified' }, plaintext: null, edit: 0 };
    }
  }
}
