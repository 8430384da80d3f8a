/** An encrypted direct conversation between two users over a real service: keys published, sealed, sent, opened; re-sealed on KEYS_CHANGED; no plaintext in the database. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KeyDirectory, loadOrCreateDevice, MemoryKeyStore, openMessage, ReplayGuard, sendEncrypted, TrustStore, type ChatClient, type E2EContext, type KeyChange } from '../src/index.ts';
import { clientFor, connected, eventually, mint, record, startService, type Service } from './support/service.ts';

let service: Service;
const clients: ChatClient[] = [];

async function user(userId: string): Promise<E2EContext & { changes: KeyChange[] }> {
  const client = clientFor(service.instance, await mint(userId));
  clients.push(client);
  const store = new MemoryKeyStore();
  const device = await loadOrCreateDevice(store, userId);
  const directory = new KeyDirectory(client.http);
  await directory.publish(await device.bundle());
  const changes: KeyChange[] = [];
  return { client, device, directory, trust: new TrustStore(store), replay: new ReplayGuard(store), changes, onKeyChange: (_u, c) => void changes.push(c) };
}

beforeAll(async () => {
  service = await startService();
});
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});
afterAll(async () => {
  await service?.close();
});

describe('encrypted direct conversation over a real service', () => {
  it('sends a sealed message that the other user and the sender’s second device open, and the database holds no plaintext', async () => {
    const alice = await user('alice');
    const bob = await user('bob');
    const conversation = await alice.directory.createEncryptedDirect('bob');
    expect(conversation.encrypted).toBe(true);

    const bobLog = record(bob.client);
    bob.client.connect();
    await connected(bob.client);
    alice.client.connect();
    await connected(alice.client);

    const secret = 'the blue door at 7 (e2e-live)';
    const { message } = await sendEncrypted(alice, { conversationId: conversation.id, plaintext: { body: secret, quote: null, attachments: [] } });
    expect(message.body).not.toContain(secret);

    const received = await eventually(() => bobLog.messages(conversation.id).find((m) => m.clientMsgId === message.clientMsgId));
    expect(await openMessage(bob, received)).toMatchObject({ ok: true, plaintext: { body: secret } });
    expect(bob.changes).toEqual([]);

    // Alice's second device, published before the next message, reads it; it cannot read the first.
    const alice2 = await user('alice');
    const second = (await sendEncrypted(alice, { conversationId: conversation.id, plaintext: { body: 'second', quote: null, attachments: [] } })).message;
    expect(alice.changes.flatMap((c) => c.added.map((d) => d.deviceId))).toContain(alice2.device.deviceId); // announced to alice's first device
    expect(await openMessage(alice2, second)).toMatchObject({ ok: true, plaintext: { body: 'second' } });
    expect(await openMessage(alice2, message)).toEqual({ ok: false, reason: 'no-key-for-this-device' });

    const rows = await service.db.sql`select count(*)::int as n from messages where body like ${'%' + secret + '%'}`;
    expect(rows[0]!.n).toBe(0);
  });

  it('re-seals when the service answers KEYS_CHANGED for a stale device list', async () => {
    const alice = await user('alice');
    const bob = await user('bob');
    const conversation = await alice.directory.createEncryptedDirect('bob');
    const stale = await alice.directory.conversationDevices(conversation.id);
    const bob2 = await loadOrCreateDevice(new MemoryKeyStore(), 'bob');
    await bob.directory.publish(await bob2.bundle());

    alice.client.connect();
    await connected(alice.client);
    // The first seal uses the list read before bob's new device: the service refuses it.
    let reads = 0;
    const real = alice.directory.conversationDevices.bind(alice.directory);
    alice.directory.conversationDevices = async (id) => (reads++ === 0 ? stale : real(id));
    const { message } = await sendEncrypted(alice, { conversationId: conversation.id, plaintext: { body: 'after the change', quote: null, attachments: [] } });
    expect(reads).toBe(2);
    expect(alice.changes.flatMap((c) => c.added.map((d) => d.deviceId))).toEqual([bob2.deviceId]);
    expect(await openMessage({ ...bob, device: bob2 }, message)).toMatchObject({ ok: true, plaintext: { body: 'after the change' } });
  });
});
