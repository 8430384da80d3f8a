/**
 * Safety numbers: what two people compare (read aloud, or as a QR code of the same digits) to
 * know that both see the same devices. 60 digits in 12 groups of 5.
 *
 * Derivation: input = safetyNumberInput(both users' devices) (@chat/protocol: the sorted
 * (userId, deviceId, identityKey) list, so both sides build the same bytes). Two SHA-256
 * blocks H0 = SHA-256(0x00 ‖ input) and H1 = SHA-256(0x01 ‖ input) give 64 bytes; the first 60
 * are cut into 12 chunks of 5 bytes; each chunk, read as a big-endian 40-bit integer, gives the
 * group `n mod 100000`, zero-padded to 5 digits (as Signal's fingerprints do; the bias of
 * 2^40 mod 100000 is below 10^-7 per group). Digits only, so the QR code is numeric.
 */
import { safetyNumberInput, type DeviceBundle } from '@chat/protocol';
import { subtle } from './bytes.ts';

export type SafetyDevice = Pick<DeviceBundle, 'userId' | 'deviceId' | 'identityKey'>;

/**
 * @example const digits = await safetyNumber(myPinnedDevices, theirPinnedDevices); // "12345 67890 … (12 groups)"
 */
export async function safetyNumber(mine: readonly SafetyDevice[], theirs: readonly SafetyDevice[]): Promise<string> {
  const input = safetyNumberInput([...mine, ...theirs]);
  const blocks = await Promise.all(
    [0, 1].map(async (i) => {
      const data = new Uint8Array(input.length + 1);
      data[0] = i;
      data.set(input, 1);
      return new Uint8Array(await subtle().digest('SHA-256', data));
    }),
  );
  const bytes = new Uint8Array([...blocks[0]!, ...blocks[1]!]);
  const groups: string[] = [];
  for (let g = 0; g < 12; g++) {
    let n = 0;
    for (let i = 0; i < 5; i++) n = n * 256 + bytes[g * 5 + i]!;
    groups.push(String(n % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}
