/**
 * The panel's end-to-end state for the signed-in user: this browser's keys (started once per
 * client), the decryptor every message of an encrypted conversation goes through, and the
 * key-change warnings. Events of encrypted conversations are opened in a per-conversation
 * queue, so they reach the caches in the order they came.
 */
import { KeyDirectory, type ChatClient, type KeyChange } from '@chat/client';
import type { ConversationEvent, DeviceBundle } from '@chat/protocol';
import { Decryptor } from './decryptor';
import { startDeviceKeys, type E2ESession } from './device-keys';
import { KeyWarnings } from './key-warnings';

/**
 * Whether this browser's device is published: `full` when the directory already holds the
 * user's maximum of devices (CONFLICT with details.maxDevices), until one is removed.
 */
export type DeviceStatus = { state: 'starting' } | { state: 'ready'; deviceId: string } | { state: 'full'; maxDevices: number } | { state: 'failed'; message: string };

/** The directory's "too many devices" answer to a publish, or null for any other failure. */
function maxDevicesOf(error: unknown): number | null {
  const e = error as { code?: unknown; details?: { maxDevices?: unknown } } | null;
  return e?.code === 'CONFLICT' && typeof e.details?.maxDevices === 'number' ? e.details.maxDevices : null;
}

export class PanelE2E {
  readonly warnings = new KeyWarnings();
  readonly decryptor: Decryptor;
  /** Listing and removing the user's own devices are plain authenticated calls: no published device needed. */
  private readonly directory: KeyDirectory;
  private starting: Promise<E2ESession> | null = null;
  private status: DeviceStatus = { state: 'starting' };
  private readonly listeners = new Set<() => void>();
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly client: ChatClient,
    private readonly userId: string,
  ) {
    this.decryptor = new Decryptor(() => this.session());
    this.directory = new KeyDirectory(client.http);
  }

  /** This browser's keys, published; started on first use and again after a failure. */
  session(): Promise<E2ESession> {
    if (!this.starting) {
      const starting = startDeviceKeys(this.client, this.userId, (userId, change) => this.warnings.add(userId, change));
      this.starting = starting;
      if (this.status.state !== 'full') this.setStatus({ state: 'starting' });
      starting.then(
        (s) => this.setStatus({ state: 'ready', deviceId: s.device.deviceId }),
        (error: unknown) => {
          if (this.starting === starting) this.starting = null;
          const max = maxDevicesOf(error);
          this.setStatus(max !== null ? { state: 'full', maxDevices: max } : { state: 'failed', message: error instanceof Error ? error.message : String(error) });
        },
      );
    }
    return this.starting;
  }

  /** Whether this browser's device is published (for useSyncExternalStore). */
  deviceStatus(): DeviceStatus {
    return this.status;
  }

  subscribeStatus(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The signed-in user's published devices. */
  async ownDevices(): Promise<DeviceBundle[]> {
    return (await this.directory.userDevices(this.userId)).devices;
  }

  /** Removes one of the user's devices (contacts see a key change); when this browser's publish had failed, it is tried again. */
  async removeDevice(deviceId: string): Promise<void> {
    await this.directory.remove(deviceId);
    if (this.status.state === 'full' || this.status.state === 'failed') await this.session().catch(() => {});
  }

  private setStatus(status: DeviceStatus): void {
    this.status = status;
    for (const listener of this.listeners) listener();
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
