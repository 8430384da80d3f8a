/** Trust on first use, key-change reports, swapped directory keys, and safety numbers. */
import { bundleSigningInput, type DeviceBundle } from '@chat/protocol';
import { describe, expect, it } from 'vitest';
import { loadOrCreateDevice, MemoryKeyStore, safetyNumber, TrustStore, verifyBundle, type Device } from '../src/index.ts';

const newDevice = (userId: string) => loadOrCreateDevice(new MemoryKeyStore(), userId);
const pins = (bundles: DeviceBundle[]) => bundles.map((b) => ({ deviceId: b.deviceId, identityKey: b.identityKey }));

/** A bundle the directory could serve for `victim`'s device id under another identity key, validly signed by that key. */
async function swapped(victim: DeviceBundle, attacker: Device): Promise<DeviceBundle> {
  const { signature: _, ...unsigned } = { ...victim, identityKey: attacker.identityKey, encryptionKey: attacker.encryptionKey };
  return { ...unsigned, signature: Buffer.from(await attacker.sign(bundleSigningInput(unsigned) as Uint8Array<ArrayBuffer>)).toString('base64url') };
}

describe('verifyBundle', () => {
  it('accepts a device’s own bundle and refuses forged or altered ones', async () => {
    const bob = await newDevice('bob');
    const bundle = await bob.bundle();
    expect(await verifyBundle(bundle)).toBe(true);
    const other = await (await newDevice('bob')).bundle();
    const forgeries: unknown[] = [
      { ...bundle, signature: other.signature },
      { ...bundle, userId: 'mallory' },
      { ...bundle, encryptionKey: other.encryptionKey },
      { ...bundle, encryptionKey: { ...bundle.encryptionKey, id: 2 } },
      { ...bundle, identityKey: other.identityKey },
      { ...bundle, signature: 'AAAA' },
      { ...bundle, extra: true },
      null,
      'bundle',
    ];
    for (const forged of forgeries) expect(await verifyBundle(forged)).toBe(false);
  });
});

describe('TrustStore', () => {
  it('pins on first use, then reports added, removed and changed devices until accepted', async () => {
    const trust = new TrustStore(new MemoryKeyStore());
    const [b1, b2, b3] = await Promise.all([newDevice('bob'), newDevice('bob'), newDevice('bob')]);
    const first = [await b1!.bundle(), await b2!.bundle()];
    expect(await trust.pinned('bob')).toBeNull();
    expect(await trust.compare('bob', first)).toMatchObject({ firstUse: true, warn: false });
    expect(await trust.pinned('bob')).toEqual(expect.arrayContaining(pins(first)));

    // A rotation keeps the identity key: no warning.
    await b1!.rotate();
    expect(await trust.compare('bob', [await b1!.bundle(), await b2!.bundle()])).toMatchObject({ firstUse: false, warn: false, added: [], removed: [], changed: [] });

    // A new device and a removed one.
    const later = [await b1!.bundle(), await b3!.bundle()];
    const change = await trust.compare('bob', later);
    expect(change).toMatchObject({ warn: true, added: pins([later[1]!]), removed: pins([first[1]!]), changed: [] });
    expect(await trust.compare('bob', later)).toMatchObject({ warn: true }); // still, until accepted
    await trust.accept('bob', later);
    expect(await trust.compare('bob', later)).toMatchObject({ warn: false });
  });

  it('detects a swapped key in the directory: same device id with another identity key, or a forged signature', async () => {
    const trust = new TrustStore(new MemoryKeyStore());
    const bob = await (await newDevice('bob')).bundle();
    await trust.compare('bob', [bob]);
    const mallory = await newDevice('bob');
    const swap = await swapped(bob, mallory);
    expect(await verifyBundle(swap)).toBe(true); // validly signed, by another key
    expect(await trust.compare('bob', [swap])).toMatchObject({ warn: true, changed: [{ deviceId: bob.deviceId, pinned: bob.identityKey, current: mallory.identityKey }], added: [], removed: [] });

    const forged = { ...bob, encryptionKey: mallory.encryptionKey }; // the server's own key, under bob's signature
    expect(await verifyBundle(forged)).toBe(false);
    expect(await trust.compare('bob', [forged])).toMatchObject({ warn: true, invalid: [bob.deviceId], changed: [], removed: [] });
    await trust.accept('bob', [forged]);
    expect(await trust.pinned('bob')).toEqual([]); // never pinned
  });
});

describe('safetyNumber', () => {
  it('is 60 digits in 12 groups, equal on both sides, and changes with a device added or a key swapped', async () => {
    const [a1, b1, b2] = await Promise.all([newDevice('alice'), newDevice('bob'), newDevice('bob')]);
    const alice = [await a1!.bundle()];
    const bob = [await b1!.bundle()];
    const aliceSees = await safetyNumber(alice, bob);
    const bobSees = await safetyNumber(bob, [...alice].reverse());
    expect(aliceSees).toMatch(/^\d{5}( \d{5}){11}$/);
    expect(bobSees).toBe(aliceSees);
    expect(await safetyNumber(alice, bob)).toBe(aliceSees); // deterministic

    // A rotation does not change it (identity keys only).
    await b1!.rotate();
    expect(await safetyNumber(alice, [await b1!.bundle()])).toBe(aliceSees);

    const withNewDevice = await safetyNumber(alice, [...bob, await b2!.bundle()]);
    expect(withNewDevice).not.toBe(aliceSees);
    expect(await safetyNumber([...bob, await b2!.bundle()].reverse(), alice)).toBe(withNewDevice);

    const mallory = await newDevice('bob');
    expect(await safetyNumber(alice, [await swapped(bob[0]!, mallory)])).not.toBe(aliceSees);
    // Pinned devices (no bundle) give the same number as their bundles.
    expect(await safetyNumber(alice, pins(bob).map((p) => ({ userId: 'bob', ...p })))).toBe(aliceSees);
  });
});
