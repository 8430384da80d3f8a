/**
 * The service side of end-to-end encrypted direct conversations (docs/e2e.md): the key
 * directory's routes, the checks on sealed sends and edits, keys.changed events, sealed
 * attachments, and an encrypted conversation behaving like a plain one across two instances.
 * Real PostgreSQL, real sockets, real WebCrypto keys (test/support/e2e-keys.ts).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient, type Frame } from '@chat/test-support/ws-client';
import { notificationFor } from '../src/push/notify.ts';
import { encryptionPublicKey, envelope, newDevice, recipientOf, rotated, signBundle, type TestDevice } from './support/e2e-keys.ts';

let db: TestDatabase;
let a: Instance;
let b: Instance;
const token: Record<string, string> = {};
const clients: TestClient[] = [];

async function live(instance: Instance, user: string, seqs: Record<string, number> = {}) {
  const client = await TestClient.live(instance.ws, token[user]!, seqs);
  clients.push(client);
  return client;
}

const publish = (user: string, device: TestDevice, instance = a) => api(instance, token[user]!, 'PUT', `/v1/keys/devices/${device.deviceId}`, device.bundle);

async function published(user: string): Promise<TestDevice> {
  const device = await newDevice(user);
  const response = await publish(user, device);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return device;
}

async function encryptedDirect(user: string, other: string): Promise<string> {
  const created = await api(a, token[user]!, 'POST', '/v1/conversations/direct', { userId: other, encrypted: true });
  expect(created.status).toBeLessThan(300);
  expect(created.body.encrypted).toBe(true);
  return created.body.id as string;
}

const sealedSend = (client: TestClient, conversationId: string, env: { clientMsgId: string }, extra: Record<string, unknown> = {}) =>
  client.request({ type: 'message.send', conversationId, clientMsgId: env.clientMsgId, body: JSON.stringify(env), ...extra });

/** The error frame of a refused request, or `{ code: 'ACCEPTED', result }`. */
const refusal = (promise: Promise<unknown>): Promise<Frame> => promise.then((result) => ({ type: 'ack', code: 'ACCEPTED', result }), (error: Frame) => error);

beforeAll(async () => {
  db = await createTestDatabase();
  [a, b] = await Promise.all([startInstance(db.url), startInstance(db.url)]);
  for (const user of ['ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'gus', 'hal']) {
    token[user] = await mintV4({ sub: user, name: user.toUpperCase() });
    expect((await api(a, token[user]!, 'GET', '/v1/me')).status).toBe(200);
  }
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([a?.close(), b?.close()]);
  await db?.drop();
});

describe('encrypted direct conversations', () => {
  it('are a separate conversation of the pair, flagged everywhere conversations are returned', async () => {
    const encrypted = await api(a, token.ann!, 'POST', '/v1/conversations/direct', { userId: 'ben', encrypted: true });
    expect(encrypted.status).toBe(201);
    expect(encrypted.body).toMatchObject({ kind: 'direct', encrypted: true });
    const again = await api(b, token.ben!, 'POST', '/v1/conversations/direct', { userId: 'ann', encrypted: true });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(encrypted.body.id);
    const plain = await api(a, token.ann!, 'POST', '/v1/conversations/direct', { userId: 'ben' });
    expect(plain.status).toBe(201);
    expect(plain.body.encrypted).toBe(false);
    expect(plain.body.id).not.toBe(encrypted.body.id);
    expect((await api(a, token.ann!, 'GET', `/v1/conversations/${encrypted.body.id}`)).body.encrypted).toBe(true);
    const list = await api(a, token.ben!, 'GET', '/v1/conversations');
    const flags = Object.fromEntries((list.body.conversations as { id: string; encrypted: boolean }[]).map((c) => [c.id, c.encrypted]));
    expect(flags).toMatchObject({ [encrypted.body.id]: true, [plain.body.id]: false });
    const group = await api(a, token.ann!, 'POST', '/v1/conversations', { title: 'g', memberIds: ['ben'] });
    expect(group.body.encrypted).toBe(false);
    // Not a group option.
    expect((await api(a, token.ann!, 'POST', '/v1/conversations', { title: 'g', memberIds: ['ben'], encrypted: true })).status).toBe(400);
  });
});

describe('the key directory', () => {
  it('publishes, rotates and re-publishes a device; refuses identity swaps, lower or reused key ids, forged or foreign bundles', async () => {
    const device = await newDevice('eve');
    const first = await publish('eve', device);
    expect(first.status).toBe(201);
    expect(first.body).toEqual(device.bundle);
    // The same keys again (re-signed: ECDSA signatures differ each time): nothing changes.
    const { signature: _, ...fields } = device.bundle;
    const resigned = await signBundle(fields, device.identity.privateKey);
    expect((await api(a, token.eve!, 'PUT', `/v1/keys/devices/${device.deviceId}`, resigned)).status).toBe(200);

    const next = await rotated(device);
    expect((await publish('eve', next)).status).toBe(200);
    const lower = await rotated(device, 1);
    expect(await publish('eve', lower)).toMatchObject({ status: 409, body: { code: 'CONFLICT', details: { currentKeyId: 2 } } });
    const sameIdOtherKey = await rotated(device, 2);
    expect((await publish('eve', sameIdOtherKey)).body.code).toBe('CONFLICT');

    // Another identity key under an existing device id.
    const impostor = await newDevice('eve', device.deviceId);
    const swapped = await rotated(impostor, 5);
    expect(await publish('eve', swapped)).toMatchObject({ status: 409, body: { code: 'CONFLICT' } });

    // Signed by a key other than the bundle's identity key.
    const other = await newDevice('eve');
    const forged = await signBundle({ ...fields, deviceId: other.deviceId, encryptionKey: { id: 1, key: await encryptionPublicKey(), createdAt: new Date().toISOString() } }, other.identity.privateKey);
    expect(await api(a, token.eve!, 'PUT', `/v1/keys/devices/${other.deviceId}`, forged)).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    // A valid signature over a changed field.
    expect((await api(a, token.eve!, 'PUT', `/v1/keys/devices/${device.deviceId}`, { ...next.bundle, encryptionKey: { ...next.bundle.encryptionKey, id: 9 } })).body.code).toBe('VALIDATION_FAILED');
    // An encryption key that is not a P-256 point, properly signed.
    const notAPoint = await signBundle({ ...fields, deviceId: other.deviceId, encryptionKey: { id: 1, key: 'A'.repeat(87), createdAt: new Date().toISOString() } }, device.identity.privateKey);
    expect((await api(a, token.eve!, 'PUT', `/v1/keys/devices/${other.deviceId}`, notAPoint)).body.code).toBe('VALIDATION_FAILED');

    // Someone else's bundle (validly signed by its own device), published by eve.
    const fays = await newDevice('fay');
    expect(await api(a, token.eve!, 'PUT', `/v1/keys/devices/${fays.deviceId}`, fays.bundle)).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    // The URL's device differs from the bundle's.
    expect((await api(a, token.fay!, 'PUT', `/v1/keys/devices/${other.deviceId}`, fays.bundle)).body.code).toBe('VALIDATION_FAILED');
    // Schema: oversize and extra fields.
    expect((await api(a, token.fay!, 'PUT', `/v1/keys/devices/${fays.deviceId}`, { ...fays.bundle, identityKey: 'A'.repeat(201) })).status).toBe(400);
    expect((await api(a, token.fay!, 'PUT', `/v1/keys/devices/${fays.deviceId}`, { ...fays.bundle, note: 'x' })).status).toBe(400);
    expect((await api(a, token.fay!, 'PUT', `/v1/keys/devices/${'x'.repeat(10)}`, fays.bundle)).status).toBe(400);

    const stored = await api(a, token.eve!, 'GET', '/v1/keys/users/eve');
    expect(stored.body).toEqual({ userId: 'eve', devices: [next.bundle] });
  });

  it('keeps at most 10 devices per user; a user removes only their own', async () => {
    const devices: TestDevice[] = [];
    for (let i = 0; i < 10; i++) devices.push(await published('gus'));
    const eleventh = await newDevice('gus');
    expect(await publish('gus', eleventh)).toMatchObject({ status: 409, body: { code: 'CONFLICT', details: { maxDevices: 10 } } });
    expect(await api(a, token.hal!, 'DELETE', `/v1/keys/devices/${devices[0]!.deviceId}`)).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect((await api(a, token.gus!, 'DELETE', `/v1/keys/devices/${devices[0]!.deviceId}`)).status).toBe(204);
    expect((await api(a, token.gus!, 'DELETE', `/v1/keys/devices/${devices[0]!.deviceId}`)).status).toBe(404);
    expect((await publish('gus', eleventh)).status).toBe(201);
    expect((await api(a, token.gus!, 'GET', '/v1/keys/users/gus')).body.devices).toHaveLength(10);
  });

  it('shows keys only to the user and to people who share a conversation with them: no crawling', async () => {
    const annDevice = await published('ann');
    const id = await encryptedDirect('ann', 'ben');
    const benDevice = await published('ben');
    expect((await api(a, token.ann!, 'GET', '/v1/keys/users/ann')).body.devices).toContainEqual(annDevice.bundle);
    expect((await api(b, token.ben!, 'GET', '/v1/keys/users/ann')).body.devices).toContainEqual(annDevice.bundle);
    const stranger = await api(a, token.cat!, 'GET', '/v1/keys/users/ann');
    const nobody = await api(a, token.cat!, 'GET', '/v1/keys/users/no-such-user');
    expect(stranger).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    expect(nobody.body).toEqual(stranger.body);

    const keys = await api(a, token.ben!, 'GET', `/v1/conversations/${id}/keys`);
    expect(keys.status).toBe(200);
    expect(keys.body.conversationId).toBe(id);
    expect(keys.body.devices).toEqual(expect.arrayContaining([annDevice.bundle, benDevice.bundle]));
    expect(await api(a, token.cat!, 'GET', `/v1/conversations/${id}/keys`)).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
  });

  it('charges every key route to the caller’s database budget', async () => {
    const tight = await startInstance(db.url, { dbWorkPerSec: 1, dbWorkBurst: 8 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await api(tight, token.hal!, 'GET', '/v1/keys/users/hal')).status);
      const device = await newDevice('hal');
      const refused = await api(tight, token.hal!, 'PUT', `/v1/keys/devices/${device.deviceId}`, device.bundle);
      expect(statuses.slice(0, 2)).toEqual([200, 200]);
      expect(refused).toMatchObject({ status: 429, body: { code: 'RATE_LIMITED', details: { budget: 'db' } } });
      // Refused before any work: the device was not stored.
      expect((await api(a, token.hal!, 'GET', '/v1/keys/users/hal')).body.devices).toEqual([]);
    } finally {
      await tight.close();
    }
  });
});

describe('sealed sends and edits', () => {
  let id: string;
  let ann: TestDevice;
  let annPhone: TestDevice;
  let ben: TestDevice;
  const everyone = () => [ann, annPhone, ben].map(recipientOf);

  beforeAll(async () => {
    id = await encryptedDirect('cat', 'dan');
    ann = await published('cat');
    annPhone = await published('cat');
    ben = await published('dan');
  });

  it('stores and fans out a sealed body; refuses plain text, wrong headers and wrong recipients; a replay returns the original', async () => {
    const sender = await live(a, 'cat');
    const reader = await live(b, 'dan');
    const env = await envelope(ann, { conversationId: id, recipients: everyone() });
    const sent = await sealedSend(sender, id, env);
    expect(sent.duplicate).toBe(false);
    expect(JSON.parse(sent.message.body)).toEqual(env);
    const received = await reader.waitFor((f) => f.type === 'message.created' && f.message.id === sent.message.id);
    expect(received.message.body).toBe(JSON.stringify(env));
    // Replay: the same clientMsgId returns the stored message.
    const replay = await sealedSend(sender, id, env);
    expect(replay).toMatchObject({ duplicate: true, message: { id: sent.message.id, seq: sent.message.seq } });

    const plain = await refusal(sender.request({ type: 'message.send', conversationId: id, clientMsgId: randomUUID(), body: 'hello in clear' }));
    expect(plain).toMatchObject({ code: 'VALIDATION_FAILED', details: { encrypted: true } });
    const header = async (override: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      refusal(sealedSend(sender, id, await envelope(ann, { conversationId: id, recipients: everyone(), header: override }), extra));
    expect(await header({ senderId: 'dan' })).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'senderId' } });
    expect(await header({ conversationId: randomUUID() })).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'conversationId' } });
    const other = await envelope(ann, { conversationId: id, recipients: everyone() });
    expect(await refusal(sender.request({ type: 'message.send', conversationId: id, clientMsgId: randomUUID(), body: JSON.stringify(other) }))).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'clientMsgId' },
    });
    expect(await header({}, { replyToId: sent.message.id })).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'replyToId' } });
    expect(await header({ edit: 1 })).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'edit' } });
    // Dan's envelope sent by Cat (Dan's header, Cat's socket).
    expect(await refusal(sealedSend(sender, id, await envelope(ben, { conversationId: id, recipients: everyone() })))).toMatchObject({ code: 'VALIDATION_FAILED' });

    // Recipients: one device left out, one that does not exist, a stale key id.
    const missing = await refusal(sealedSend(sender, id, await envelope(ann, { conversationId: id, recipients: [ann, annPhone].map(recipientOf) })));
    expect(missing).toMatchObject({ code: 'KEYS_CHANGED', retryable: false, details: { missing: [recipientOf(ben)], unknown: [], noDevices: [] } });
    const ghost = { userId: 'dan', deviceId: 'g'.repeat(22), keyId: 1 };
    const unknown = await refusal(sealedSend(sender, id, await envelope(ann, { conversationId: id, recipients: [...everyone(), ghost] })));
    expect(unknown).toMatchObject({ code: 'KEYS_CHANGED', details: { missing: [], unknown: [ghost] } });
    const twice = await refusal(sealedSend(sender, id, await envelope(ann, { conversationId: id, recipients: [...everyone(), recipientOf(ben)] })));
    expect(twice).toMatchObject({ code: 'VALIDATION_FAILED' });
    const benNext = await rotated(ben);
    expect((await publish('dan', benNext)).status).toBe(200);
    const stale = await refusal(sealedSend(sender, id, await envelope(ann, { conversationId: id, recipients: everyone() })));
    expect(stale).toMatchObject({ code: 'KEYS_CHANGED', details: { missing: [recipientOf(benNext)], unknown: [recipientOf(ben)] } });
    ben = benNext;
    // A sender device that is not (or no longer) published with the envelope's senderKey.
    const annOld = ann;
    ann = await rotated(ann);
    expect((await publish('cat', ann)).status).toBe(200);
    const oldKey = await refusal(sealedSend(sender, id, await envelope(annOld, { conversationId: id, recipients: everyone() })));
    expect(oldKey).toMatchObject({ code: 'KEYS_CHANGED', details: { senderDevice: ann.deviceId } });
    expect((await sealedSend(sender, id, await envelope(ann, { conversationId: id, recipients: everyone() }))).duplicate).toBe(false);

    // Over HTTP: the same checks, typed statuses.
    const http = await api(a, token.cat!, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: randomUUID(), body: 'plain' });
    expect(http).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    const keysChanged = await envelope(ann, { conversationId: id, recipients: [recipientOf(ann)] });
    expect(await api(a, token.cat!, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: keysChanged.clientMsgId, body: JSON.stringify(keysChanged) })).toMatchObject({
      status: 409,
      body: { code: 'KEYS_CHANGED', retryable: false },
    });
    const ok = await envelope(ann, { conversationId: id, recipients: everyone() });
    expect((await api(a, token.cat!, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: ok.clientMsgId, body: JSON.stringify(ok) })).status).toBe(201);

    // Not a member: refused, and the refusal names no device.
    const outsider = await live(a, 'eve');
    const intruder = await refusal(sealedSend(outsider, id, await envelope(ann, { conversationId: id, recipients: everyone(), header: { senderId: 'eve' } })));
    expect(intruder).toMatchObject({ code: 'FORBIDDEN' });
    expect(intruder.details).toBeUndefined();
  });

  it('bounds envelopes, and plain conversations keep MAX_BODY_CHARS', async () => {
    const huge = await envelope(ann, { conversationId: id, recipients: everyone(), ciphertextBytes: 37_000 });
    const refused = await api(a, token.cat!, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: huge.clientMsgId, body: JSON.stringify(huge) });
    expect(refused.status).toBe(400);
    const plain = await api(a, token.cat!, 'POST', '/v1/conversations/direct', { userId: 'dan' });
    const long = await api(a, token.cat!, 'POST', `/v1/conversations/${plain.body.id}/messages`, { clientMsgId: randomUUID(), body: 'x'.repeat(4001) });
    expect(long).toMatchObject({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } });
    // An envelope is just text in a plain conversation: too long for it.
    const sealedInPlain = await envelope(ann, { conversationId: plain.body.id, recipients: everyone(), ciphertextBytes: 4000 });
    expect((await api(a, token.cat!, 'POST', `/v1/conversations/${plain.body.id}/messages`, { clientMsgId: sealedInPlain.clientMsgId, body: JSON.stringify(sealedInPlain) })).status).toBe(413);
  });

  it('edits are new envelopes of the same message with a higher edit number', async () => {
    const sender = await live(a, 'cat');
    const reader = await live(b, 'dan');
    const env = await envelope(ann, { conversationId: id, recipients: everyone() });
    const sent = await sealedSend(sender, id, env);
    const edit = (body: unknown) => refusal(sender.request({ type: 'message.edit', conversationId: id, messageId: sent.message.id, body: typeof body === 'string' ? body : JSON.stringify(body) }));
    const first = await envelope(ann, { conversationId: id, recipients: everyone(), clientMsgId: env.clientMsgId, edit: 1 });
    const done = await edit(first);
    expect(done.code).toBe('ACCEPTED');
    expect(done.result.seq).toBeGreaterThan(sent.message.seq);
    const event = await reader.waitFor((f) => f.type === 'message.edited' && f.messageId === sent.message.id);
    expect(event.body).toBe(JSON.stringify(first));
    expect(await edit(await envelope(ann, { conversationId: id, recipients: everyone(), clientMsgId: env.clientMsgId, edit: 1 }))).toMatchObject({ code: 'CONFLICT', details: { currentEdit: 1 } });
    expect(await edit(await envelope(ann, { conversationId: id, recipients: everyone(), edit: 2 }))).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'clientMsgId' } });
    expect(await edit(await envelope(ann, { conversationId: id, recipients: everyone(), clientMsgId: env.clientMsgId, edit: 2, replyToId: sent.message.id }))).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'replyToId' },
    });
    expect(await edit('now in clear')).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await edit(await envelope(ann, { conversationId: id, recipients: [recipientOf(ann)], clientMsgId: env.clientMsgId, edit: 2 }))).toMatchObject({ code: 'KEYS_CHANGED' });
    const second = await envelope(ann, { conversationId: id, recipients: everyone(), clientMsgId: env.clientMsgId, edit: 2 });
    const patched = await api(b, token.cat!, 'PATCH', `/v1/conversations/${id}/messages/${sent.message.id}`, { body: JSON.stringify(second) });
    expect(patched.status).toBe(200);
    const history = await api(a, token.dan!, 'GET', `/v1/conversations/${id}/messages?after=${sent.message.seq - 1}&limit=1`);
    expect(history.body.messages[0].body).toBe(JSON.stringify(second));
  });

  it('a member without a device cannot be sealed to: KEYS_CHANGED names them', async () => {
    const lonely = await encryptedDirect('cat', 'fay');
    const sender = await live(a, 'cat');
    const env = await envelope(ann, { conversationId: lonely, recipients: [ann, annPhone].map(recipientOf) });
    expect(await refusal(sealedSend(sender, lonely, env))).toMatchObject({ code: 'KEYS_CHANGED', details: { noDevices: ['fay'] } });
  });
});

describe('keys.changed events', () => {
  it('reach both members of each encrypted conversation of the user, live and on resume, and never plain conversations', async () => {
    const id = await encryptedDirect('hal', 'eve');
    const plain = (await api(a, token.hal!, 'POST', '/v1/conversations/direct', { userId: 'eve' })).body.id as string;
    const eve = await live(b, 'eve');
    const before = (await api(a, token.eve!, 'GET', `/v1/conversations/${id}`)).body.lastSeq as number;
    const device = await published('hal');
    const added = await eve.waitFor((f) => f.type === 'keys.changed' && f.conversationId === id);
    expect(added).toMatchObject({ userId: 'hal', actorId: 'hal', deviceId: device.deviceId, change: 'added', seq: before + 1 });
    // The same bundle again changes nothing and says nothing.
    expect((await publish('hal', device)).status).toBe(200);
    expect((await publish('hal', await rotated(device))).status).toBe(200);
    expect((await api(a, token.hal!, 'DELETE', `/v1/keys/devices/${device.deviceId}`)).status).toBe(204);
    await eve.waitFor((f) => f.type === 'keys.changed' && f.conversationId === id && f.change === 'removed');
    const changes = eve.frames.filter((f) => f.type === 'keys.changed');
    expect(changes.map((f) => [f.conversationId, f.change])).toEqual([
      [id, 'added'],
      [id, 'rotated'],
      [id, 'removed'],
    ]);
    expect(changes.some((f) => f.conversationId === plain)).toBe(false);
    // A device that was offline gets them from the seq stream.
    const later = await TestClient.connect(a.ws, { token: token.eve! });
    clients.push(later);
    const resumed = await later.request({ type: 'resume', conversations: { [id]: before } });
    expect(resumed).toBeDefined();
    await later.waitFor((f) => f.type === 'keys.changed' && f.change === 'removed');
    expect(later.frames.filter((f) => f.type === 'keys.changed').map((f) => f.seq)).toEqual([before + 1, before + 2, before + 3]);
    // Not unread.
    const listed = (await api(a, token.eve!, 'GET', '/v1/conversations')).body.conversations.find((c: { id: string }) => c.id === id);
    expect(listed.unreadCount).toBe(0);
  });
});

describe('sealed attachments', () => {
  it('take only the neutral name and type in an encrypted conversation', async () => {
    const id = await encryptedDirect('ann', 'gus');
    const upload = (conversationId: string, filename: string, contentType: string) =>
      fetch(`${a.http}/v1/conversations/${conversationId}/attachments?filename=${encodeURIComponent(filename)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token.ann!}`, 'content-type': contentType },
        body: new Uint8Array(Buffer.from('ciphertext bytes')),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }));
    expect(await upload(id, 'passport.pdf', 'application/octet-stream')).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    expect(await upload(id, 'encrypted.bin', 'application/pdf')).toMatchObject({ status: 415, body: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    const ok = await upload(id, 'encrypted.bin', 'application/octet-stream');
    expect(ok).toMatchObject({ status: 201, body: { filename: 'encrypted.bin', contentType: 'application/octet-stream', size: 16 } });
    // Plain conversations keep the configured types (octet-stream is not one by default).
    const plain = (await api(a, token.ann!, 'POST', '/v1/conversations/direct', { userId: 'gus' })).body.id as string;
    expect((await upload(plain, 'encrypted.bin', 'application/octet-stream')).status).toBe(415);
    expect((await upload(plain, 'notes.pdf', 'application/pdf')).status).toBe(201);
  });
});

describe('what still works, and what degrades', () => {
  it('ordering, resume, receipts and typing behave as in plain conversations, across two instances', async () => {
    const id = await encryptedDirect('fay', 'hal');
    const fay = await published('fay');
    const hal = await published('hal');
    const recipients = [fay, hal].map(recipientOf);
    const sender = await live(a, 'fay');
    const reader = await live(b, 'hal');
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await sealedSend(sender, id, await envelope(fay, { conversationId: id, recipients })));
    await eventually(() => reader.messages(id).length === 5 || undefined, 'five messages');
    expect(reader.messages(id).map((f) => f.seq)).toEqual(sent.map((s) => s.message.seq));
    // Reply: the id in clear, the preview left out of history (the quote is in the ciphertext).
    const reply = await sealedSend(sender, id, await envelope(fay, { conversationId: id, recipients, replyToId: sent[0].message.id }), { replyToId: sent[0].message.id });
    const page = await api(b, token.hal!, 'GET', `/v1/conversations/${id}/messages`);
    const stored = page.body.messages.find((m: { id: string }) => m.id === reply.message.id);
    expect(stored.replyTo).toMatchObject({ id: sent[0].message.id, senderId: 'fay', preview: null });

    await reader.request({ type: 'typing.start', conversationId: id });
    await sender.waitFor((f) => f.type === 'typing' && f.conversationId === id && f.userId === 'hal');
    await reader.request({ type: 'read.mark', conversationId: id, upTo: reply.message.seq });
    await sender.waitFor((f) => f.type === 'read' && f.conversationId === id && f.userId === 'hal' && f.upTo === reply.message.seq);

    // Resume on the other instance from an earlier seq: exactly what was missed, in order, replies without previews.
    const again = await TestClient.connect(a.ws, { token: token.hal! });
    clients.push(again);
    await again.request({ type: 'resume', conversations: { [id]: sent[2].message.seq } });
    await eventually(() => again.messages(id).length === 3 || undefined, 'replayed');
    expect(again.messages(id).map((f) => f.message.id)).toEqual([sent[3].message.id, sent[4].message.id, reply.message.id]);
    expect(again.messages(id)[2]!.message.replyTo.preview).toBeNull();
  });

  it('server search skips encrypted conversations; push names the sender only', async () => {
    const id = await encryptedDirect('gus', 'hal');
    const gus = await newDevice('gus'); // gus already holds 10 devices: reuse one slot
    const existing = (await api(a, token.gus!, 'GET', '/v1/keys/users/gus')).body.devices as { deviceId: string }[];
    await api(a, token.gus!, 'DELETE', `/v1/keys/devices/${existing[0]!.deviceId}`);
    await api(a, token.gus!, 'DELETE', `/v1/keys/devices/${existing[1]!.deviceId}`);
    expect((await publish('gus', gus)).status).toBe(201);
    const devices = (await api(a, token.gus!, 'GET', `/v1/conversations/${id}/keys`)).body.devices as { userId: string; deviceId: string; encryptionKey: { id: number } }[];
    const recipients = devices.map((d) => ({ userId: d.userId, deviceId: d.deviceId, keyId: d.encryptionKey.id }));
    const word = `needle${Date.now()}`;
    const sender = await live(a, 'gus');
    // The clientMsgId is in the envelope's clear header: the one word of it a text index could match.
    await sealedSend(sender, id, await envelope(gus, { conversationId: id, recipients, clientMsgId: word }));
    const plain = (await api(a, token.gus!, 'POST', '/v1/conversations/direct', { userId: 'hal' })).body.id as string;
    await sender.request({ type: 'message.send', conversationId: plain, clientMsgId: randomUUID(), body: `plain ${word}` });
    const found = await api(a, token.hal!, 'GET', `/v1/search?q=${word}`);
    expect(found.status).toBe(200);
    expect(found.body.results.map((r: { conversationId: string }) => r.conversationId)).toEqual([plain]);
    expect((await api(a, token.hal!, 'GET', `/v1/search?q=${word}&conversationId=${id}`)).body.results).toEqual([]);

    const state = {
      settings: { enabled: true, preview: 'message' as const },
      muted: false,
      online: false,
      kind: 'direct' as const,
      title: null,
      count: 1,
      latest: { seq: 3, senderName: 'Gus', body: '{"v":1,"alg":"…"}', attachments: 0 },
    };
    expect(notificationFor(id, { ...state, encrypted: true })?.body).toBe('New message from Gus');
    expect(notificationFor(id, { ...state, encrypted: false })?.body).toBe('{"v":1,"alg":"…"}');
  });
});
