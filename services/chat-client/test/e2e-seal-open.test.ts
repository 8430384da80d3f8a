/** seal/open with real WebCrypto and @hpke/core: multi-device round trips, tampering, replay, re-addressing, rotation. */
import type { DeviceBundle, E2EPlaintext, Envelope } from '@chat/protocol';
import { describe, expect, it } from 'vitest';
import { decryptAttachment, E2EError, encryptAttachment, loadOrCreateDevice, MemoryKeyStore, open, ReplayGuard, seal, type Device } from '../src/index.ts';

const conversationId = '8f1d6c5e-2b0a-4c1e-9d3f-5a6b7c8d9e0f';
const otherConversationId = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const replyToId = '11111111-2222-4333-8444-555555555555';
const hello: E2EPlaintext = { body: 'hello bob', quote: { senderId: 'bob', preview: 'are you there?' }, attachments: [] };

const devicesOf = (userId: string, n: number) => Promise.all(Array.from({ length: n }, () => loadOrCreateDevice(new MemoryKeyStore(), userId)));
const bundles = (devices: Device[]) => Promise.all(devices.map((d) => d.bundle()));
const expectedFor = (e: Pick<Envelope, 'conversationId' | 'senderId' | 'clientMsgId'>, seq?: number) => ({ conversationId: e.conversationId, senderId: e.senderId, clientMsgId: e.clientMsgId, seq });
const header = (clientMsgId = crypto.randomUUID()) => ({ conversationId, senderId: 'alice', clientMsgId, replyToId, edit: 0 });

/** Flips one bit of a base64url field's decoded bytes. */
function flip(b64: string, index = 0): string {
  const bytes = Buffer.from(b64, 'base64url');
  bytes[index % bytes.length]! ^= 0x01;
  return bytes.toString('base64url');
}

describe('seal and open', async () => {
  const alice = await devicesOf('alice', 2);
  const bob = await devicesOf('bob', 3);
  const everyone = await bundles([...alice, ...bob]);
  const aliceBundles = await bundles(alice);
  const sealHello = (h = header()) => seal(alice[0]!, h, hello, everyone);

  it('opens on every device of both users, the sender’s other device included, and never on a device added later', async () => {
    const envelope = await sealHello();
    expect(envelope.keys).toHaveLength(5);
    const body = JSON.stringify(envelope);
    expect(body).not.toContain('hello bob');
    for (const device of [...alice, ...bob]) {
      const result = await open(device, body, expectedFor(envelope), aliceBundles);
      expect(result).toEqual({ ok: true, plaintext: hello, edit: 0, senderDevice: alice[0]!.deviceId });
    }
    const [lateBob] = await devicesOf('bob', 1);
    expect(await open(lateBob!, body, expectedFor(envelope), aliceBundles)).toEqual({ ok: false, reason: 'no-key-for-this-device' });
  });

  it('keeps every private key non-extractable, also after a trip through the key store', async () => {
    const store = new MemoryKeyStore();
    const device = await loadOrCreateDevice(store, 'carol');
    await device.rotate();
    const again = await loadOrCreateDevice(store, 'carol');
    expect(again.deviceId).toBe(device.deviceId);
    expect(again.deviceId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(again.keyIds).toEqual([1, 2]);
    for (const key of [...device.privateKeys(), ...again.privateKeys()]) {
      expect(key.type).toBe('private');
      expect(key.extractable).toBe(false);
    }
    await expect(crypto.subtle.exportKey('pkcs8', again.privateKeys()[0]!)).rejects.toThrow();
  });

  it('refuses hostile input with a typed reason, never a throw', async () => {
    const envelope = await sealHello();
    const expected = expectedFor(envelope);
    for (const input of ['hello', '', '{"v":1', '{"v":1}', JSON.stringify({ ...envelope, extra: 1 }), JSON.stringify({ ...envelope, keys: [] }), null, 42, { ...envelope, ciphertext: '***' }]) {
      expect(await open(bob[0]!, input, expected, aliceBundles)).toEqual({ ok: false, reason: 'not-an-envelope' });
    }
  });

  it('detects changes by the server: ciphertext, wrapped key, header fields and signature', async () => {
    const envelope = await sealHello();
    const other = await sealHello();
    const expected = expectedFor(envelope);
    const mine = envelope.keys.findIndex((k) => k.deviceId === bob[0]!.deviceId);
    const withKey = (change: object) => ({ ...envelope, keys: envelope.keys.map((k, i) => (i === mine ? { ...k, ...change } : k)) });
    const cases: [string, unknown][] = [
      ['ciphertext', { ...envelope, ciphertext: flip(envelope.ciphertext, 5) }],
      ['wrapped key', withKey({ wrapped: flip(envelope.keys[mine]!.wrapped) })],
      ['enc', withKey({ enc: flip(envelope.keys[mine]!.enc, 10) })],
      ['edit', { ...envelope, edit: 1 }],
      ['replyToId', { ...envelope, replyToId: null }],
      ['nonce', { ...envelope, nonce: flip(envelope.nonce) }],
      ['senderKey', { ...envelope, senderKey: (await bob[1]!.bundle()).encryptionKey.key }],
      ['signature from another envelope', { ...envelope, signature: other.signature }],
      ['flipped signature', { ...envelope, signature: flip(envelope.signature, 40) }],
    ];
    for (const [what, tampered] of cases) {
      expect(await open(bob[0]!, JSON.stringify(tampered), expected, aliceBundles), what).toEqual({ ok: false, reason: 'bad-signature' });
    }
    // The service's reply link must match the sealed one.
    expect(await open(bob[0]!, envelope, { ...expected, replyToId: null }, aliceBundles)).toEqual({ ok: false, reason: 'misaddressed' });
  });

  it('reports tampered when a signed envelope does not open (a faulty or malicious sender device)', async () => {
    const envelope = await sealHello();
    const resign = async (e: Omit<Envelope, 'signature'>): Promise<Envelope> => {
      const { envelopeSigningInput } = await import('@chat/protocol');
      return { ...e, signature: Buffer.from(await alice[0]!.sign(envelopeSigningInput(e) as Uint8Array<ArrayBuffer>)).toString('base64url') };
    };
    const { signature: _, ...unsigned } = envelope;
    const mine = envelope.keys.findIndex((k) => k.deviceId === bob[0]!.deviceId);
    const badCiphertext = await resign({ ...unsigned, ciphertext: flip(envelope.ciphertext, 3) });
    const badWrap = await resign({ ...unsigned, keys: envelope.keys.map((k, i) => (i === mine ? { ...k, wrapped: flip(k.wrapped) } : k)) });
    const otherEdit = await resign({ ...unsigned, edit: 1 }); // HPKE info and AAD both bind edit
    const otherSenderKey = await resign({ ...unsigned, senderKey: (await bob[1]!.bundle()).encryptionKey.key }); // HPKE Auth binds the sender key
    for (const tampered of [badCiphertext, badWrap, otherEdit, otherSenderKey]) {
      expect(await open(bob[0]!, tampered, expectedFor(envelope), aliceBundles)).toEqual({ ok: false, reason: 'tampered' });
    }
  });

  it('refuses an envelope re-addressed to another conversation, sender or message', async () => {
    const envelope = await sealHello();
    const expected = expectedFor(envelope);
    for (const other of [{ conversationId: otherConversationId }, { clientMsgId: crypto.randomUUID() }, { senderId: 'bob' }]) {
      expect(await open(bob[0]!, envelope, { ...expected, ...other }, aliceBundles)).toEqual({ ok: false, reason: 'misaddressed' });
    }
    // Rewriting the header to match is caught by the signature.
    const moved = { ...envelope, conversationId: otherConversationId };
    expect(await open(bob[0]!, moved, { ...expected, conversationId: otherConversationId }, aliceBundles)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('refuses a sender device that is not pinned, or pinned with another identity key', async () => {
    const envelope = await sealHello();
    expect(await open(bob[0]!, envelope, expectedFor(envelope), [aliceBundles[1]!])).toEqual({ ok: false, reason: 'unknown-device' });
    const [impostor] = await devicesOf('alice', 1);
    const swapped = [{ deviceId: alice[0]!.deviceId, identityKey: impostor!.identityKey }];
    expect(await open(bob[0]!, envelope, expectedFor(envelope), swapped)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('detects a replay at another seq; the same seq again is a history re-read', async () => {
    const replay = new ReplayGuard(new MemoryKeyStore());
    const envelope = await sealHello();
    expect((await open(bob[0]!, envelope, expectedFor(envelope, 7), aliceBundles, { replay })).ok).toBe(true);
    expect((await open(bob[0]!, envelope, expectedFor(envelope, 7), aliceBundles, { replay })).ok).toBe(true);
    expect(await open(bob[0]!, envelope, expectedFor(envelope, 9), aliceBundles, { replay })).toEqual({ ok: false, reason: 'replay' });
    // An edit is a new envelope under the same clientMsgId: not a replay.
    const edited = await seal(alice[0]!, { ...header(envelope.clientMsgId), edit: 1 }, { ...hello, body: 'hello, bob' }, everyone);
    expect(await open(bob[0]!, edited, expectedFor(edited, 9), aliceBundles, { replay })).toMatchObject({ ok: true, edit: 1, plaintext: { body: 'hello, bob' } });
    // The guard persists in the key store.
    const store = new MemoryKeyStore();
    await new ReplayGuard(store).check({ ...envelope, edit: 0 }, 3);
    expect(await new ReplayGuard(store).check({ ...envelope, edit: 0 }, 4)).toBe('replay');
  });

  it('refuses to seal to a bundle that does not verify, and as another user', async () => {
    const forged: DeviceBundle = { ...everyone[3]!, encryptionKey: { ...everyone[3]!.encryptionKey, key: everyone[0]!.encryptionKey.key } };
    await expect(seal(alice[0]!, header(), hello, [...everyone, forged])).rejects.toMatchObject({ code: 'UNVERIFIABLE_BUNDLE' });
    await expect(seal(alice[0]!, { ...header(), senderId: 'bob' }, hello, everyone)).rejects.toBeInstanceOf(E2EError);
  });
});

describe('rotation', () => {
  it('keeps messages to old keys openable for the retention, then no-key-for-this-device', async () => {
    let now = Date.parse('2026-12-01T00:00:00Z');
    const clock = { now: () => now };
    const alice = await loadOrCreateDevice(new MemoryKeyStore(), 'alice', clock);
    const bobStore = new MemoryKeyStore();
    const bob = await loadOrCreateDevice(bobStore, 'bob', clock);
    const pinned = [await alice.bundle()];
    const before = await seal(alice, header(), hello, [await bob.bundle()]);
    expect(before.keys.find((k) => k.userId === 'bob')!.keyId).toBe(1);

    const rotated = await bob.rotate();
    expect(rotated.encryptionKey.id).toBe(2);
    expect(bob.keyIds).toEqual([1, 2]);
    expect(await open(bob, before, expectedFor(before), pinned)).toMatchObject({ ok: true });
    const after = await seal(alice, header(), hello, [rotated]);
    expect(after.keys.find((k) => k.userId === 'bob')!.keyId).toBe(2);

    // The sender rotates too: its old messages still open (the envelope carries its signed HPKE key).
    await alice.rotate();
    expect(await open(bob, before, expectedFor(before), [await alice.bundle()])).toMatchObject({ ok: true });

    now += 29 * 24 * 3600 * 1000;
    await bob.rotate(); // key 1 was superseded 29 days ago: kept
    expect(bob.keyIds).toEqual([1, 2, 3]);
    now += 2 * 24 * 3600 * 1000;
    const reloaded = await loadOrCreateDevice(bobStore, 'bob', clock); // pruned on load: key 1 is 31 days past
    expect(reloaded.keyIds).toEqual([2, 3]);
    expect(await open(reloaded, before, expectedFor(before), pinned)).toEqual({ ok: false, reason: 'no-key-for-this-device' });
    expect(await open(reloaded, after, expectedFor(after), pinned)).toMatchObject({ ok: true });
    expect(await reloaded.rotateIfDue()).toBeNull(); // key 3 is 2 days old
    now += 5 * 24 * 3600 * 1000;
    expect((await reloaded.rotateIfDue())?.encryptionKey.id).toBe(4); // 7 days: due
  });
});

describe('attachments', () => {
  it('round-trips with a fresh key per file and refuses changed bytes or another key', async () => {
    const bytes = new TextEncoder().encode('%PDF-1.7 the invoice');
    const a = await encryptAttachment(bytes);
    const b = await encryptAttachment(bytes);
    expect(a.key).not.toBe(b.key);
    expect(Buffer.from(a.ciphertext).includes(Buffer.from('invoice'))).toBe(false);
    expect(new TextDecoder().decode((await decryptAttachment(a.ciphertext, a.key, a.nonce))!)).toBe('%PDF-1.7 the invoice');
    const flipped = new Uint8Array(a.ciphertext);
    flipped[0]! ^= 1;
    expect(await decryptAttachment(flipped, a.key, a.nonce)).toBeNull();
    expect(await decryptAttachment(a.ciphertext, b.key, a.nonce)).toBeNull();
    expect(await decryptAttachment(a.ciphertext, 'not a key', a.nonce)).toBeNull();
  });
});
