/** Where the outbox persists: localStorage in browsers, an in-memory map elsewhere. */

/** The part of the Web Storage API the client uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * An in-memory StorageLike, for Node, tests and server-side rendering. Share one
 * instance between clients to make an outbox outlive a client.
 *
 * @example new ChatClient({ ...options, storage: new MemoryStorage() })
 */
export class MemoryStorage implements StorageLike {
  private readonly map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, String(value));
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

/** localStorage when the page has one (it throws in some privacy modes), else memory. */
export function defaultStorage(): StorageLike {
  try {
    const storage = (globalThis as { localStorage?: StorageLike }).localStorage;
    if (storage) {
      const probe = '__chat_client_probe__';
      storage.setItem(probe, '1');
      storage.removeItem(probe);
      return storage;
    }
  } catch {
    // unavailable (quota, privacy mode, sandboxed iframe): fall through to memory
  }
  return new MemoryStorage();
}
