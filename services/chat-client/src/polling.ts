/**
 * The fallback transport: when the socket cannot be established, read each tracked
 * conversation's event stream over HTTP (GET /v1/conversations/:id/events?after=<seq>)
 * every few seconds, and find new conversations from the conversation list.
 */
import type { ConversationEvent } from '@chat/protocol';
import { ChatError } from './errors.ts';
import type { ChatHttp } from './http.ts';
import type { SeqTracker } from './seqs.ts';

const PAGE = 500;
const PARALLEL = 4;
/** Re-list conversations every this many polls (and on the first). */
const DISCOVER_EVERY = 10;
const MAX_LIST_PAGES = 10;

export interface PollerDeps {
  http: ChatHttp;
  seqs: SeqTracker;
  intervalMs: number;
  onEvent(event: ConversationEvent): void;
  onConversations(conversations: { id: string; lastSeq: number }[]): void;
  /** Sends the outbox over HTTP; runs after each successful read. */
  flush(): Promise<void>;
  /** After every poll: whether it worked, and when the next one starts. */
  onPolled(result: { ok: true } | { ok: false; error: ChatError; nextAt: number }): void;
}

export class Poller {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  private polls = 0;

  constructor(private readonly deps: PollerDeps) {}

  get active(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.polls = 0;
    void this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Polls now instead of at the next tick (e.g. after a send). */
  now(): void {
    if (!this.running || this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
    void this.tick();
  }

  private async tick(): Promise<void> {
    this.timer = null;
    try {
      if (this.polls++ % DISCOVER_EVERY === 0) await this.discover();
      if (!this.running) return;
      const ids = this.deps.seqs.ids();
      for (let i = 0; i < ids.length && this.running; i += PARALLEL) {
        await Promise.all(ids.slice(i, i + PARALLEL).map((id) => this.read(id)));
      }
      if (!this.running) return;
      await this.deps.flush();
      if (this.running) this.deps.onPolled({ ok: true });
    } catch (thrown) {
      if (this.running) this.deps.onPolled({ ok: false, error: ChatError.from(thrown), nextAt: Date.now() + this.deps.intervalMs });
    }
    if (this.running && this.timer === null) this.timer = setTimeout(() => void this.tick(), this.deps.intervalMs);
  }

  private async discover(): Promise<void> {
    const found: { id: string; lastSeq: number }[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const list = await this.deps.http.conversations({ limit: 100, cursor });
      for (const c of list.conversations) found.push({ id: c.id, lastSeq: c.lastSeq });
      if (!list.nextCursor) break;
      cursor = list.nextCursor;
    }
    if (this.running) this.deps.onConversations(found);
  }

  private async read(conversationId: string): Promise<void> {
    for (;;) {
      const after = this.deps.seqs.get(conversationId);
      if (after === undefined || !this.running) return;
      let page;
      try {
        page = await this.deps.http.events(conversationId, { after, limit: PAGE });
      } catch (thrown) {
        const error = ChatError.from(thrown);
        // No longer a member (or deleted): stop polling it rather than fail every poll.
        if (error.code === 'FORBIDDEN' || error.code === 'NOT_FOUND') return this.deps.seqs.retire(conversationId);
        throw error;
      }
      if (!this.running) return;
      for (const event of page.events) this.deps.onEvent(event);
      if (page.events.length < PAGE) return;
    }
  }
}
