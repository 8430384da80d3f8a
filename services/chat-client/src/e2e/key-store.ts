/**
 * Where a device keeps its keys: structured-cloneable values, CryptoKeys included, so a
 * non-extractable private key is stored as the platform's key object and never as bytes.
 * Browsers: IndexedDB. Node and tests: memory.
 */

export interface KeyStore {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Every key that starts with `prefix`. */
  keys(prefix: string): Promise<string[]>;
}

/**
 * An in-memory KeyStore. Values are structured-cloned on the way in and out, as IndexedDB
 * does, so code tested against it also works against IndexedDB.
 * @example const device = await loadOrCreateDevice(new MemoryKeyStore(), 'alice');
 */
export class MemoryKeyStore implements KeyStore {
  private readonly map = new Map<string, unknown>();
  async get<T>(key: string): Promise<T | undefined> {
    return this.map.has(key) ? (structuredClone(this.map.get(key)) as T) : undefined;
  }
  async put(key: string, value: unknown): Promise<void> {
    this.map.set(key, structuredClone(value));
  }
  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }
  async keys(prefix: string): Promise<string[]> {
    return [...this.map.keys()].filter((k) => k.startsWith(prefix));
  }
}

/**
 * A KeyStore over one IndexedDB object store (browsers only).
 * @example const store = new IndexedDbKeyStore('chat-e2e:' + userId);
 */
export class IndexedDbKeyStore implements KeyStore {
  private db: Promise<IDBDatabase> | null = null;

  constructor(
    private readonly name = 'chat-e2e',
    private readonly storeName = 'keys',
  ) {}

  async get<T>(key: string): Promise<T | undefined> {
    return (await this.run('readonly', (s) => s.get(key))) as T | undefined;
  }
  async put(key: string, value: unknown): Promise<void> {
    await this.run('readwrite', (s) => s.put(value, key));
  }
  async delete(key: string): Promise<void> {
    await this.run('readwrite', (s) => s.delete(key));
  }
  async keys(prefix: string): Promise<string[]> {
    const range = IDBKeyRange.bound(prefix, prefix + '\uffff');
    return (await this.run('readonly', (s) => s.getAllKeys(range))) as string[];
  }

  private async run<R>(mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest<R>): Promise<R> {
    const db = await this.open();
    return new Promise<R>((resolve, reject) => {
      const tx = db.transaction(this.storeName, mode);
      const request = op(tx.objectStore(this.storeName));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error ?? request.error);
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(this.name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(this.storeName);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    return this.db;
  }
}

/**
 * IndexedDB where the page has it, else memory (Node, server-side rendering: keys then live
 * only as long as the process). Never touches `indexedDB` when it is not defined.
 * @example const store = defaultKeyStore(`chat-e2e:${userId}`);
 */
export function defaultKeyStore(name = 'chat-e2e'): KeyStore {
  return typeof globalThis.indexedDB === 'undefined' ? new MemoryKeyStore() : new IndexedDbKeyStore(name);
}
