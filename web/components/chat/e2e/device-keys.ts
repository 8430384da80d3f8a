/**
 * This browser's end-to-end keys for the signed-in user (docs/e2e.md): the device (created on
 * first use, non-extractable keys in IndexedDB), its bundle published to the key directory
 * (rotated when due), and the trust pins and replay log kept in the same IndexedDB store.
 */
import { KeyDirectory, loadOrCreateDevice, ReplayGuard, TrustStore, defaultKeyStore, type ChatClient, type E2EContext, type KeyChange } from '@chat/client';

export type E2ESession = E2EContext & { directory: KeyDirectory; trust: TrustStore; replay: ReplayGuard };

/** Loads (or creates) this browser's device for `userId` and publishes its bundle. */
export async function startDeviceKeys(client: ChatClient, userId: string, onKeyChange: (userId: string, change: KeyChange) => void): Promise<E2ESession> {
  const store = defaultKeyStore(`chat-e2e:${userId}`);
  const device = await loadOrCreateDevice(store, userId);
  const directory = new KeyDirectory(client.http);
  await directory.publish((await device.rotateIfDue()) ?? (await device.bundle()));
  return {
    client,
    device,
    directory,
    trust: new TrustStore(store),
    replay: new ReplayGuard(store),
    // Seal to the directory's verified devices (as Signal does) and show the warning.
    onKeyChange: (changedUserId, change) => {
      onKeyChange(changedUserId, change);
      return true;
    },
  };
}
