/**
 * Remembers the seq at which each authentic envelope was first seen, keyed by
 * (conversationId, senderId, senderDevice, clientMsgId, edit), in a KeyStore so it outlives
 * the page. The same envelope at another seq is a replay (the server stored it twice); at the
 * same seq it is a history re-read.
 */
import type { KeyStore } from './key-store.ts';

export interface ReplayKey {
  conversationId: string;
  senderId: string;
  senderDevice: string;
  clientMsgId: string;
  edit: number;
}

export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  /** @example const replay = new ReplayGuard(store); await open(device, body, expected, pinned, { replay }); */
  constructor(
    private readonly store: KeyStore,
    private readonly prefix = 'replay:',
  ) {}

  /** 'first' (now remembered at `seq`), 'same' (seen at this seq before) or 'replay' (seen at another seq). */
  async check(key: ReplayKey, seq: number): Promise<'first' | 'same' | 'replay'> {
    const id = this.prefix + JSON.stringify([key.conversationId, key.senderId, key.senderDevice, key.clientMsgId, key.edit]);
    const known = this.seen.get(id) ?? (await this.store.get<number>(id));
    if (known === undefined) {
      this.seen.set(id, seq);
      await this.store.put(id, seq);
      return 'first';
    }
    this.seen.set(id, known);
    return known === seq ? 'same' : 'replay';
  }
}
