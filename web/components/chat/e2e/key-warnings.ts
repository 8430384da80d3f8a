/** Contacts (and this user) whose devices changed since they were pinned: the key-change banner's store. */
import type { KeyChange } from '@chat/client';

type Listener = () => void;

export class KeyWarnings {
  private warnings = new Map<string, KeyChange>();
  private snapshot: ReadonlyMap<string, KeyChange> = new Map();
  private readonly listeners = new Set<Listener>();

  add(userId: string, change: KeyChange): void {
    if (!change.warn) return;
    this.warnings.set(userId, change);
    this.changed();
  }

  clear(userId: string): void {
    if (this.warnings.delete(userId)) this.changed();
  }

  /** A stable map between changes (for useSyncExternalStore). */
  get(): ReadonlyMap<string, KeyChange> {
    return this.snapshot;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    this.snapshot = new Map(this.warnings);
    for (const listener of this.listeners) listener();
  }
}

/** The banner's sentence for one user's change. */
export function describeChange(name: string, change: KeyChange, mine: boolean): string {
  const whose = mine ? 'Your' : `${name}’s`;
  if (change.invalid.length > 0) return `${whose} keys could not be verified: the key directory serves a key that is not signed by the device. Do not trust new messages until you compare safety numbers.`;
  if (change.changed.length > 0) return `${whose} keys changed: a device now has a different identity key. Compare safety numbers before you trust it.`;
  if (change.added.length > 0) return `${whose} keys changed: ${change.added.length === 1 ? 'a new device was' : `${change.added.length} new devices were`} added. Compare safety numbers, then accept.`;
  return `${whose} keys changed: ${change.removed.length === 1 ? 'a device was' : 'devices were'} removed.`;
}
