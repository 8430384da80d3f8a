/**
 * Trust on first use, per contact: the first device list seen for a user is pinned
 * (deviceId → identity key); later lists are compared with it, and a new device, a removed
 * one or a changed identity key is reported until the user accepts the new list (after
 * comparing safety numbers, ideally). Encryption keys are not pinned: they rotate, and each
 * rotation is signed by the pinned identity key.
 */
import type { DeviceBundle } from '@chat/protocol';
import { verifyBundle } from './bundle.ts';
import type { KeyStore } from './key-store.ts';

export interface PinnedDevice {
  deviceId: string;
  /** SPKI DER, base64url. */
  identityKey: string;
}

export interface KeyChange {
  /** Nothing was pinned yet: `current` is now pinned (trust on first use) and nothing is reported. */
  firstUse: boolean;
  /** Devices in the directory that were not pinned. */
  added: PinnedDevice[];
  /** Pinned devices the directory no longer lists. */
  removed: PinnedDevice[];
  /** Same device id, another identity key: a swapped key, or a reinstalled device reusing its id. */
  changed: { deviceId: string; pinned: string; current: string }[];
  /** Device ids whose bundle does not verify (forged or altered); they are ignored otherwise. */
  invalid: string[];
  /** True when any of added/removed/changed/invalid is non-empty: show the key-change warning. */
  warn: boolean;
}

export class TrustStore {
  /** @example const trust = new TrustStore(store); */
  constructor(
    private readonly store: KeyStore,
    private readonly prefix = 'trust:',
  ) {}

  /** The pinned devices of `userId`, or null before first use. @example await open(device, body, expected, (await trust.pinned(senderId)) ?? []); */
  async pinned(userId: string): Promise<PinnedDevice[] | null> {
    return (await this.store.get<PinnedDevice[]>(this.prefix + userId)) ?? null;
  }

  /**
   * Compares `userId`'s bundles from the directory with the pinned list. Bundles of another user
   * are ignored. On first use the verified bundles are pinned and `firstUse` is true.
   * @example const change = await trust.compare('bob', (await directory.userDevices('bob')).devices); if (change.warn) showKeyChangeWarning(change);
   */
  async compare(userId: string, current: readonly DeviceBundle[]): Promise<KeyChange> {
    const mine = current.filter((b) => b?.userId === userId);
    const valid: PinnedDevice[] = [];
    const invalid: string[] = [];
    for (const bundle of mine) {
      if (await verifyBundle(bundle)) valid.push({ deviceId: bundle.deviceId, identityKey: bundle.identityKey });
      else invalid.push(String(bundle.deviceId));
    }
    const pinned = await this.pinned(userId);
    if (pinned === null) {
      await this.pin(userId, valid);
      return { firstUse: true, added: [], removed: [], changed: [], invalid, warn: invalid.length > 0 };
    }
    const byId = new Map(pinned.map((d) => [d.deviceId, d]));
    const now = new Map(valid.map((d) => [d.deviceId, d]));
    const added = valid.filter((d) => !byId.has(d.deviceId));
    const removed = pinned.filter((d) => !now.has(d.deviceId) && !invalid.includes(d.deviceId));
    const changed = valid.filter((d) => byId.has(d.deviceId) && byId.get(d.deviceId)!.identityKey !== d.identityKey).map((d) => ({ deviceId: d.deviceId, pinned: byId.get(d.deviceId)!.identityKey, current: d.identityKey }));
    return { firstUse: false, added, removed, changed, invalid, warn: added.length + removed.length + changed.length + invalid.length > 0 };
  }

  /**
   * Pins `userId`'s verified bundles as the trusted list (the user accepted the change). Unverifiable bundles are never pinned.
   * @example await trust.accept('bob', (await directory.userDevices('bob')).devices);
   */
  async accept(userId: string, bundles: readonly DeviceBundle[]): Promise<void> {
    const valid: PinnedDevice[] = [];
    for (const b of bundles) if (b?.userId === userId && (await verifyBundle(b))) valid.push({ deviceId: b.deviceId, identityKey: b.identityKey });
    await this.pin(userId, valid);
  }

  private async pin(userId: string, devices: PinnedDevice[]): Promise<void> {
    await this.store.put(this.prefix + userId, [...devices].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0)));
  }
}
