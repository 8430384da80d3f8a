/**
 * This device's keys: a random 128-bit device id, an ECDSA P-256 identity key pair and HPKE
 * (ECDH P-256) encryption key pairs, all private keys non-extractable CryptoKeys kept in a
 * KeyStore (IndexedDB in browsers). Encryption keys rotate; a superseded private key is kept
 * for `retentionMs` after it was superseded (to open messages sealed to it meanwhile), then deleted.
 */
import { bundleSigningInput, E2E_VERSION, type DeviceBundle } from '@chat/protocol';
import { generateIdentityKeyPair, sign } from './bundle.ts';
import { randomBytes, subtle, toBase64Url, type Bytes } from './bytes.ts';
import { exportHpkePublicKey, generateHpkeKeyPair } from './hpke.ts';
import type { KeyStore } from './key-store.ts';

const DAY = 24 * 60 * 60 * 1000;
/** How long a superseded encryption private key is kept (docs/e2e.md: 30 days). */
export const KEY_RETENTION_MS = 30 * DAY;
/** How old the current encryption key may get before rotateIfDue() replaces it (7 days). */
export const ROTATE_AFTER_MS = 7 * DAY;

export interface DeviceOptions {
  retentionMs?: number;
  rotateAfterMs?: number;
  /** Milliseconds since the epoch; tests move time with it. */
  now?: () => number;
}

interface StoredEncryptionKey {
  id: number;
  keyPair: CryptoKeyPair;
  /** Raw public point, base64url. */
  key: string;
  createdAt: string;
  /** When a newer key replaced it; null for the current key. */
  supersededAt: string | null;
}

interface StoredDevice {
  v: 1;
  userId: string;
  deviceId: string;
  identity: CryptoKeyPair;
  identityKey: string;
  encryptionKeys: StoredEncryptionKey[];
}

const storeKey = (userId: string) => `device:${userId}`;

export class Device {
  private cachedBundle: DeviceBundle | null = null;

  /** @internal use loadOrCreateDevice */
  constructor(
    private readonly store: KeyStore,
    private state: StoredDevice,
    private readonly options: Required<DeviceOptions>,
  ) {}

  get userId(): string {
    return this.state.userId;
  }
  get deviceId(): string {
    return this.state.deviceId;
  }
  /** The identity public key, SPKI DER, base64url. */
  get identityKey(): string {
    return this.state.identityKey;
  }
  /** The current encryption key's id and raw public point (base64url). */
  get encryptionKey(): { id: number; key: string; createdAt: string } {
    const { id, key, createdAt } = this.current();
    return { id, key, createdAt };
  }
  /** Ids of the encryption private keys this device still holds, oldest first. */
  get keyIds(): number[] {
    return this.state.encryptionKeys.map((k) => k.id);
  }

  /**
   * The signed bundle of the current encryption key, to publish in the key directory.
   * @example await directory.publish(await device.bundle());
   */
  async bundle(): Promise<DeviceBundle> {
    if (this.cachedBundle?.encryptionKey.id === this.current().id) return this.cachedBundle;
    const unsigned: Omit<DeviceBundle, 'signature'> = { v: E2E_VERSION, userId: this.userId, deviceId: this.deviceId, identityKey: this.identityKey, encryptionKey: this.encryptionKey };
    const signature = toBase64Url(await this.sign(bundleSigningInput(unsigned) as Bytes));
    this.cachedBundle = { ...unsigned, signature };
    return this.cachedBundle;
  }

  /**
   * A new encryption key (id + 1). The superseded private key is kept for `retentionMs` from now,
   * keys superseded longer ago are deleted. Publish the returned bundle.
   * @example await directory.publish(await device.rotate());
   */
  async rotate(): Promise<DeviceBundle> {
    const now = new Date(this.options.now()).toISOString();
    const next = await newEncryptionKey(this.current().id + 1, now);
    const keys = this.state.encryptionKeys.map((k) => (k.supersededAt === null ? { ...k, supersededAt: now } : k));
    await this.save({ ...this.state, encryptionKeys: [...keys, next] });
    await this.prune();
    return this.bundle();
  }

  /** Rotates when the current key is older than `rotateAfterMs`; null when it is not due. @example const b = await device.rotateIfDue(); if (b) await directory.publish(b); */
  async rotateIfDue(): Promise<DeviceBundle | null> {
    return this.options.now() - Date.parse(this.current().createdAt) >= this.options.rotateAfterMs ? this.rotate() : null;
  }

  /** Deletes private keys superseded more than `retentionMs` ago (also done on load and rotate). */
  async prune(): Promise<void> {
    const cutoff = this.options.now() - this.options.retentionMs;
    const kept = this.state.encryptionKeys.filter((k) => k.supersededAt === null || Date.parse(k.supersededAt) > cutoff);
    if (kept.length !== this.state.encryptionKeys.length) await this.save({ ...this.state, encryptionKeys: kept });
  }

  /** @internal The key pair for a key id, while this device holds it. */
  keyPair(id: number): CryptoKeyPair | null {
    return this.state.encryptionKeys.find((k) => k.id === id)?.keyPair ?? null;
  }

  /** @internal The current encryption key pair (the HPKE Auth sender key of what this device seals). */
  currentKeyPair(): CryptoKeyPair {
    return this.current().keyPair;
  }

  /** @internal ECDSA P-256 / SHA-256 with the identity key (P1363). */
  sign(data: Bytes): Promise<Bytes> {
    return sign(this.state.identity.privateKey, data);
  }

  /** @internal The private keys, for the tests that assert they are non-extractable. */
  privateKeys(): CryptoKey[] {
    return [this.state.identity.privateKey, ...this.state.encryptionKeys.map((k) => k.keyPair.privateKey)];
  }

  private current(): StoredEncryptionKey {
    return this.state.encryptionKeys.find((k) => k.supersededAt === null)!;
  }

  private async save(state: StoredDevice): Promise<void> {
    await this.store.put(storeKey(state.userId), state);
    this.state = state;
  }
}

/**
 * This device for `userId`: loaded from the store, or created (and stored) on first use.
 * @example const device = await loadOrCreateDevice(defaultKeyStore(`chat-e2e:${userId}`), userId);
 */
export async function loadOrCreateDevice(store: KeyStore, userId: string, options: DeviceOptions = {}): Promise<Device> {
  const resolved: Required<DeviceOptions> = {
    retentionMs: options.retentionMs ?? KEY_RETENTION_MS,
    rotateAfterMs: options.rotateAfterMs ?? ROTATE_AFTER_MS,
    now: options.now ?? Date.now,
  };
  const stored = await store.get<StoredDevice>(storeKey(userId));
  if (stored?.v === 1) {
    const device = new Device(store, stored, resolved);
    await device.prune();
    return device;
  }
  const identity = await generateIdentityKeyPair();
  const state: StoredDevice = {
    v: 1,
    userId,
    deviceId: toBase64Url(randomBytes(16)),
    identity,
    identityKey: toBase64Url(await subtle().exportKey('spki', identity.publicKey)),
    encryptionKeys: [await newEncryptionKey(1, new Date(resolved.now()).toISOString())],
  };
  await store.put(storeKey(userId), state);
  return new Device(store, state, resolved);
}

/**
 * Forgets this device's keys (sign-out on a shared computer): messages sealed to it no longer open here.
 * @example await forgetDevice(store, userId); await directory.remove(device.deviceId);
 */
export async function forgetDevice(store: KeyStore, userId: string): Promise<void> {
  await store.delete(storeKey(userId));
}

async function newEncryptionKey(id: number, createdAt: string): Promise<StoredEncryptionKey> {
  const keyPair = await generateHpkeKeyPair();
  return { id, keyPair, key: await exportHpkePublicKey(keyPair.publicKey), createdAt, supersededAt: null };
}
