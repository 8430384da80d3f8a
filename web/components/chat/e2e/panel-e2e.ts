/**
 * The panel's end-to-end state for the signed-in user: this browser's keys (started once per
 * client), the decryptor every message of an encrypted conversation goes through, and the
 * key-change warnings. Events of encrypted conversations are opened in a per-conversation
 * queue, so they reach the caches in the order they came.
 */
import type { ChatClient, KeyChange } from '@chat/client';
import type { ConversationEvent } from '@chat/protocol';
import { Decryptor } from './decryptor';
import { startDeviceKeys, type E2ESession } from './device-keys';
import { KeyWarnings } from './key-warnings';

export class PanelE2E {
  readonly warnings = new KeyWarnings();
  readonly decryptor: Decryptor;
  private starting: Promise<E2ESession> | null = null;
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly client: ChatClient,
    private readonly userId: string,
  ) {
    this.decryptor = new Decryptor(() => this.session());
  }

  /** This browser's keys, published; started on first use and again after a failure. */
  session(): Promise<E2ESession> {
    if (!this.starting) {
      this.starting = startDeviceKeys(this.client, this.userId, (userId, change) => this.warnings.add(userId, change));
      this.starting.catch(() => (this.starting = null));
    }
    return this.starting;
  }

  /** Compares a user's directory devices with the pins; a change raises the warning. */
  async check(userId: string): Promise<KeyChange> {
    const session = await this.session();
    const change = await session.trust.compare(userId, (await session.directory.userDevices(userId)).devices);
    this.warnings.add(userId, change);
    return change;
  }

  /** The user compared safety numbers (or chose to trust): pin the current devices. */
  async accept(userId: string): Promise<void> {
    const session = await this.session();
    await session.trust.accept(userId, (await session.directory.userDevices(userId)).devices);
    this.warnings.clear(userId);
    this.decryptor.forgetFailures();
  }

  /** Runs `apply` with the event opened, after the conversation's earlier events. */
  enqueue(event: ConversationEvent, apply: (event: ConversationEvent) => void): void {
    const previous = this.queues.get(event.conversationId) ?? Promise.resolve();
    const next = previous
      .then(async () => {
        if (event.type === 'keys.changed') await this.check(event.userId).catch(() => {});
        apply(await this.decryptor.event(event));
      })
      .catch(() => {});
    this.queues.set(event.conversationId, next);
  }
}
