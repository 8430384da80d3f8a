/**
 * The last seq applied per conversation: named in every `resume`, used to poll, and
 * the basis of de-duplication (an event at or below it was seen already).
 */
export class SeqTracker {
  private readonly seqs = new Map<string, number>();
  /** Conversations we left or that were deleted: kept for de-duplication, no longer resumed or polled. */
  private readonly retired = new Set<string>();

  /** Whether the conversation is tracked (and not retired). */
  has(conversationId: string): boolean {
    return this.seqs.has(conversationId) && !this.retired.has(conversationId);
  }

  get(conversationId: string): number | undefined {
    return this.seqs.get(conversationId);
  }

  /** Records a seq; never moves a conversation backwards. */
  track(conversationId: string, seq: number): void {
    this.retired.delete(conversationId);
    const last = this.seqs.get(conversationId);
    if (last === undefined || seq > last) this.seqs.set(conversationId, Math.max(0, Math.floor(seq)));
  }

  /** True when the event is new (and records it); false for a duplicate or an old event. */
  accept(conversationId: string, seq: number): boolean {
    const last = this.seqs.get(conversationId);
    if (last !== undefined && seq <= last) return false;
    this.seqs.set(conversationId, seq);
    return true;
  }

  /** Stops resuming and polling a conversation; a later track() (or rejoin) brings it back. */
  retire(conversationId: string): void {
    if (this.seqs.has(conversationId)) this.retired.add(conversationId);
  }

  /** Tracked conversations, not retired. */
  ids(): string[] {
    return [...this.seqs.keys()].filter((id) => !this.retired.has(id));
  }

  /** Conversation id → last seq, as the `resume` frame wants it. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.ids().map((id) => [id, this.seqs.get(id)!]));
  }
}
