/**
 * Group commit: items submitted while a flush is running wait and go together in
 * the next flush, so N concurrent writers cost one transaction instead of N.
 * One flush at a time keeps submission order (a sender's messages keep their order
 * in the conversation's seq). Each caller's promise settles only with its own
 * item's outcome, after the shared transaction finished.
 */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface GroupCommitOptions {
  /** Most items per flush. */
  maxBatch: number;
}

interface Pending<I, R> {
  item: I;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<I, R> {
  private queue: Pending<I, R>[] = [];
  private flushing = false;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly flush: (items: I[]) => Promise<Outcome<R>[]>,
    private readonly options: GroupCommitOptions,
    private readonly onBatch?: (size: number) => void,
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting or being written. */
  get backlog(): number {
    return this.queue.length;
  }

  /** Resolves once everything submitted so far has settled. */
  async drain(): Promise<void> {
    if (!this.flushing && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    // Let the current I/O phase add its items before the batch closes.
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.onBatch?.(batch.length);
      try {
        const outcomes = await this.flush(batch.map((p) => p.item));
        batch.forEach((pending, i) => {
          const outcome = outcomes[i];
          if (outcome?.ok) pending.resolve(outcome.value);
          else pending.reject(outcome ? outcome.error : new Error('group commit: missing outcome'));
        });
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    this.flushing = false;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
