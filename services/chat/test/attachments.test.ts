import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4, mintV5 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';

/** A real 1×1 PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
/** The head of a WebM file as Chromium's MediaRecorder writes it: EBML header, DocType "webm". */
const WEBM = Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0xf7, 0x81, 0x01, 0x42, 0xf2, 0x81, 0x04, 0x42, 0xf3, 0x81, 0x08, 0x42, 0x82, 0x84]), Buffer.from('webm', 'latin1'), Buffer.alloc(64)]);

let db: TestDatabase;
let dir: string;
let a: Instance;
let b: Instance;
let small: Instance;
let voice: Instance;
let alice: string;
let bob: string;
let carol: string;
/** alice + bob */
let direct: string;
/** alice + carol */
let other: string;

interface Upload {
  status: number;
  body: any;
}

async function upload(
  instance: Instance,
  token: string | null,
  conversationId: string,
  data: Buffer | string,
  contentType: string | null,
  filename?: string,
): Promise<Upload> {
  const query = filename === undefined ? '' : `?filename=${encodeURIComponent(filename)}`;
  const response = await fetch(`${instance.http}/v1/conversations/${conversationId}/attachments${query}`, {
    method: 'POST',
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(contentType ? { 'content-type': contentType } : {}),
    },
    body: typeof data === 'string' ? data : new Uint8Array(data),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function download(instance: Instance, token: string, id: string) {
  const response = await fetch(`${instance.http}/v1/attachments/${id}`, { headers: { authorization: `Bearer ${token}` } });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, bytes, json: () => JSON.parse(bytes.toString()) };
}

async function uploadOk(token: string, conversationId: string, data: Buffer, contentType: string, filename?: string) {
  const result = await upload(a, token, conversationId, data, contentType, filename);
  expect(result.status, JSON.stringify(result.body)).toBe(201);
  return result.body as { id: string; filename: string; contentType: string; size: number };
}

/** Every blob file under the store (skipping the temp folder). */
async function blobFiles(): Promise<string[]> {
  const found: string[] = [];
  for (const shard of await readdir(dir)) {
    if (shard === '.tmp') continue;
    for (const file of await readdir(path.join(dir, shard))) found.push(file);
  }
  return found;
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), 'chat-attachments-'));
  // Two instances sharing one store (as a shared volume would in production), and one with a tiny limit.
  [a, b, small] = await Promise.all([
    startInstance(db.url, { attachmentsDir: dir }),
    startInstance(db.url, { attachmentsDir: dir }),
    startInstance(db.url, { attachmentsDir: dir, maxAttachmentBytes: 1024 }),
  ]);
  voice = await startInstance(db.url, { attachmentsDir: dir, maxVoiceBytes: 512 });
  alice = await mintV4({ sub: 'alice', name: 'Alice' });
  bob = await mintV5({ sub: 'bob', name: 'Bob' });
  carol = await mintV4({ sub: 'carol', name: 'Carol' });
  for (const token of [alice, bob, carol]) expect((await api(a, token, 'GET', '/v1/me')).status).toBe(200);
  direct = (await api(a, alice, 'POST', '/v1/conversations/direct', { userId: 'bob' })).body.id;
  other = (await api(a, alice, 'POST', '/v1/conversations/direct', { userId: 'carol' })).body.id;
  expect(direct).toBeTruthy();
  expect(other).toBeTruthy();
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close(), small?.close(), voice?.close()]);
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('an image crosses instances', () => {
  it('is uploaded on A, sent over WS on A, announced to B, and downloaded from B byte for byte', async () => {
    const ref = await uploadOk(alice, direct, PNG, 'image/png', 'pixel.png');
    expect(ref).toEqual({ id: expect.any(String), filename: 'pixel.png', contentType: 'image/png', size: PNG.length });
    const [row] = await db.sql`select conversation_id, uploader_id, message_id, storage_key from attachments where id = ${ref.id}`;
    expect(row).toMatchObject({ conversation_id: direct, uploader_id: 'alice', message_id: null });
    expect(await blobFiles()).toContain(row!.storage_key);

    const bobOnB = await TestClient.live(b.ws, bob);
    const sender = await TestClient.live(a.ws, alice);
    const ack = await sender.request({ type: 'message.send', conversationId: direct, clientMsgId: 'img-1', body: 'look', attachmentIds: [ref.id] });
    expect(ack.message.attachments).toEqual([ref]);

    const event = await bobOnB.waitFor((f) => f.type === 'message.created' && f.message.id === ack.message.id);
    expect(event.message.attachments).toEqual([ref]);
    const [sent] = await db.sql`select message_id from attachments where id = ${ref.id}`;
    expect(sent!.message_id).toBe(ack.message.id);

    const got = await download(b, bob, event.message.attachments[0].id);
    expect(got.status).toBe(200);
    expect(got.bytes.equals(PNG)).toBe(true);
    expect(got.headers.get('content-type')).toBe('image/png');
    expect(got.headers.get('content-length')).toBe(String(PNG.length));
    expect(got.headers.get('content-disposition')).toBe(`inline; filename="pixel.png"; filename*=UTF-8''pixel.png`);
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    expect(got.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    expect(got.headers.get('cross-origin-resource-policy')).toBe('same-site');
    expect(got.headers.get('cache-control')).toBe('private, max-age=3600');

    // History carries the same reference.
    const history = await api(b, bob, 'GET', `/v1/conversations/${direct}/messages?limit=10`);
    expect(history.status, JSON.stringify(history.body)).toBe(200);
    expect(history.body.messages.find((m: any) => m.id === ack.message.id).attachments).toEqual([ref]);
    await Promise.all([bobOnB.close(), sender.close()]);
  });

  it('serves a PDF as a download, never inline, with the name encoded', async () => {
    const name = 'résumé (final)*.pdf';
    const ref = await uploadOk(alice, direct, PDF, 'application/pdf', name);
    expect(ref.filename).toBe(name);
    const sender = await TestClient.live(a.ws, alice);
    await sender.request({ type: 'message.send', conversationId: direct, clientMsgId: 'pdf-1', body: 'the file', attachmentIds: [ref.id] });
    const got = await download(b, bob, ref.id);
    expect(got.status).toBe(200);
    expect(got.bytes.equals(PDF)).toBe(true);
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(got.headers.get('content-disposition')).toBe(
      `attachment; filename="r_sum_ (final)*.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%28final%29%2A.pdf`,
    );
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    expect(got.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    await sender.close();
  });

  it('serves text/plain (with a charset parameter on upload) as an octet-stream download', async () => {
    const ref = await uploadOk(alice, direct, Buffer.from('<script>alert(1)</script>'), 'text/plain; charset=utf-8', 'notes.txt');
    expect(ref.contentType).toBe('text/plain');
    const sender = await TestClient.live(a.ws, alice);
    await sender.request({ type: 'message.send', conversationId: direct, clientMsgId: 'txt-1', body: 'notes', attachmentIds: [ref.id] });
    const got = await download(b, bob, ref.id);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(got.headers.get('content-disposition')).toMatch(/^attachment; /);
    await sender.close();
  });
});

describe('what an upload accepts', () => {
  it('refuses text/html and SVG with 415 and stores nothing', async () => {
    const before = await blobFiles();
    const html = await upload(a, alice, direct, '<html><script>alert(1)</script></html>', 'text/html', 'x.html');
    expect(html.status).toBe(415);
    expect(html.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(html.body.details.allowed).toContain('image/png');
    const svg = await upload(a, alice, direct, '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 'image/svg+xml', 'x.svg');
    expect(svg.status).toBe(415);
    expect(svg.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const json = await upload(a, alice, direct, '{"a":1}', 'application/json');
    expect(json.status).toBe(415);
    const none = await upload(a, alice, direct, PNG, null);
    expect(none.status).toBe(415);
    expect(await blobFiles()).toEqual(before);
  });

  it('refuses image bytes that do not match the declared image type', async () => {
    const html = await upload(a, alice, direct, '<html><body>not a png</body></html>', 'image/png', 'evil.png');
    expect(html.status).toBe(415);
    expect(html.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const pngAsJpeg = await upload(a, alice, direct, PNG, 'image/jpeg', 'pixel.jpg');
    expect(pngAsJpeg.status).toBe(415);
    const fakeGif = await upload(a, alice, direct, 'GIF00a', 'image/gif');
    expect(fakeGif.status).toBe(415);
    const fakeWebp = await upload(a, alice, direct, 'RIFF\u0000\u0000\u0000\u0000WEBX', 'image/webp');
    expect(fakeWebp.status).toBe(415);
    // Real signatures pass.
    const jpeg = await upload(a, alice, direct, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]), 'image/jpeg');
    expect(jpeg.status).toBe(201);
    const gif = await upload(a, alice, direct, Buffer.from('GIF89a\u0001\u0000\u0001\u0000', 'latin1'), 'image/gif');
    expect(gif.status).toBe(201);
    const webp = await upload(a, alice, direct, Buffer.from('RIFF\u0004\u0000\u0000\u0000WEBPVP8 ', 'latin1'), 'image/webp');
    expect(webp.status).toBe(201);
    const [{ count }] = await db.sql<[{ count: number }]>`select count(*)::int from attachments where filename in ('evil.png', 'pixel.jpg')`;
    expect(count).toBe(0);
  });

  it('takes voice messages (audio/webm, ogg, mp4) with a checked container, bounded by MAX_VOICE_BYTES, for members only', async () => {
    const ref = await uploadOk(alice, direct, WEBM, 'audio/webm', 'Voice message.webm');
    expect(ref.contentType).toBe('audio/webm');
    // Never served inline: the panel fetches the bytes and plays them from a blob (unsent: its uploader only).
    expect((await download(b, bob, ref.id)).status).toBe(403);
    const got = await download(b, alice, ref.id);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(got.bytes.equals(WEBM)).toBe(true);
    expect((await upload(a, alice, direct, Buffer.concat([Buffer.from('OggS'), Buffer.alloc(60)]), 'audio/ogg')).status).toBe(201);
    expect((await upload(a, alice, direct, Buffer.concat([Buffer.from([0, 0, 0, 0x20]), Buffer.from('ftypM4A '), Buffer.alloc(40)]), 'audio/mp4')).status).toBe(201);
    // Bytes that are not the declared container: HTML posing as a recording, a PNG as WebM.
    const html = await upload(a, alice, direct, '<html><script>alert(1)</script></html>', 'audio/webm', 'evil.webm');
    expect(html.status).toBe(415);
    expect(html.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect((await upload(a, alice, direct, PNG, 'audio/ogg', 'evil.ogg')).status).toBe(415);
    // Other audio types are not accepted at all.
    expect((await upload(a, alice, direct, WEBM, 'audio/x-wav', 'evil.wav')).status).toBe(415);
    // Longer than a voice message may be (its size stands for its length), though under the attachment limit.
    const long = await upload(voice, alice, direct, Buffer.concat([WEBM, Buffer.alloc(512)]), 'audio/webm', 'long.webm');
    expect(long.status).toBe(413);
    expect(long.body.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await upload(voice, alice, direct, Buffer.concat([WEBM, Buffer.alloc(512 - WEBM.length)]), 'audio/webm', 'fits.webm')).status).toBe(201);
    // carol is no member of alice and bob's conversation.
    const outsider = await upload(a, carol, direct, WEBM, 'audio/webm', 'outsider.webm');
    expect(outsider.status).toBe(403);
    const [{ count }] = await db.sql<[{ count: number }]>`select count(*)::int from attachments where filename in ('evil.webm', 'evil.ogg', 'evil.wav', 'long.webm', 'outsider.webm')`;
    expect(count).toBe(0);
  });

  it('refuses an upload over the limit with 413, and an empty one with 400', async () => {
    const tooBig = await upload(small, alice, direct, Buffer.concat([PNG, Buffer.alloc(2048)]), 'image/png', 'big.png');
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.code).toBe('PAYLOAD_TOO_LARGE');
    const atLimit = await upload(small, alice, direct, Buffer.concat([PNG, Buffer.alloc(1024 - PNG.length)]), 'image/png', 'fits.png');
    expect(atLimit.status).toBe(201);
    expect(atLimit.body.size).toBe(1024);
    const empty = await upload(a, alice, direct, Buffer.alloc(0), 'text/plain', 'empty.txt');
    expect(empty.status).toBe(400);
    expect(empty.body.code).toBe('VALIDATION_FAILED');
    const [{ count }] = await db.sql<[{ count: number }]>`select count(*)::int from attachments where filename in ('big.png', 'empty.txt')`;
    expect(count).toBe(0);
  });

  it('sanitises the filename and defaults it', async () => {
    const traversal = await uploadOk(alice, direct, PDF, 'application/pdf', '../../etc/\u0000pass\nwd\\..\u202egpj.pdf');
    expect(traversal.filename).toBe('....etcpasswd..gpj.pdf');
    const long = await uploadOk(alice, direct, PDF, 'application/pdf', `${'é'.repeat(300)}.pdf`);
    expect(Array.from(long.filename)).toHaveLength(200);
    expect((await uploadOk(alice, direct, PDF, 'application/pdf')).filename).toBe('file');
    expect((await uploadOk(alice, direct, PDF, 'application/pdf', '/\u0001/')).filename).toBe('file');
    expect((await uploadOk(alice, direct, PDF, 'application/pdf', '..')).filename).toBe('file');
    // The stored blob is named by the server, never by the client.
    const [row] = await db.sql`select storage_key from attachments where id = ${traversal.id}`;
    expect(row!.storage_key).toBe(traversal.id);
  });

  it('needs a session token', async () => {
    const anonymous = await upload(a, null, direct, PNG, 'image/png');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('UNAUTHENTICATED');
    const download = await fetch(`${a.http}/v1/attachments/00000000-0000-4000-8000-000000000000`);
    expect(download.status).toBe(401);
  });
});

describe('who may upload and download', () => {
  it('a non-member can neither upload into nor download from a conversation', async () => {
    const refused = await upload(a, carol, direct, PNG, 'image/png', 'intruder.png');
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('FORBIDDEN');
    const missingConversation = await upload(a, carol, '00000000-0000-4000-8000-000000000000', PNG, 'image/png');
    expect(missingConversation.status).toBe(403);

    const ref = await uploadOk(alice, direct, PNG, 'image/png', 'private.png');
    const sender = await TestClient.live(a.ws, alice);
    await sender.request({ type: 'message.send', conversationId: direct, clientMsgId: 'private-1', body: 'for bob', attachmentIds: [ref.id] });
    const got = await download(b, carol, ref.id);
    expect(got.status).toBe(403);
    expect(got.json().code).toBe('FORBIDDEN');
    // An id that does not exist gets the same answer: existence is not revealed.
    const unknown = await download(b, carol, '00000000-0000-4000-8000-000000000000');
    expect(unknown.status).toBe(403);
    expect(unknown.json().code).toBe('FORBIDDEN');
    expect((await download(b, bob, ref.id)).status).toBe(200);
    await sender.close();
  });

  it('an unsent upload is visible to its uploader only', async () => {
    const ref = await uploadOk(alice, direct, PNG, 'image/png', 'draft.png');
    const own = await download(b, alice, ref.id);
    expect(own.status).toBe(200);
    expect(own.bytes.equals(PNG)).toBe(true);
    expect((await download(b, bob, ref.id)).status).toBe(403);
    expect((await download(b, carol, ref.id)).status).toBe(403);
  });

  it('a cookie-authenticated upload must come from an allowed origin (no cross-site form posts)', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${a.http}/v1/conversations/${direct}/attachments?filename=csrf.txt`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', cookie: `next-auth.session-token=${alice}`, ...headers },
        body: 'from a form',
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const crossSite = await post({ origin: 'https://evil.example' });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body.code).toBe('ORIGIN_NOT_ALLOWED');
    expect(await db.sql`select id from attachments where filename = 'csrf.txt'`).toHaveLength(0);
    const sameHost = await post({ origin: a.http });
    expect(sameHost.status).toBe(201);
  });

  it('the token may come from the query string (for <img src>)', async () => {
    const ref = await uploadOk(alice, direct, PNG, 'image/png');
    const response = await fetch(`${b.http}/v1/attachments/${ref.id}?token=${encodeURIComponent(alice)}`);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(PNG)).toBe(true);
  });
});

describe('sending attachments', () => {
  it("refuses someone else's attachment and one from another conversation, writing no message", async () => {
    const client = await TestClient.live(a.ws, alice);
    const bobs = (await upload(a, bob, direct, PNG, 'image/png', 'bobs.png')).body;
    expect(bobs.id).toBeTruthy();
    const elsewhere = await uploadOk(alice, other, PNG, 'image/png', 'elsewhere.png');

    for (const [clientMsgId, id] of [['steal-1', bobs.id], ['cross-1', elsewhere.id], ['unknown-1', '00000000-0000-4000-8000-000000000000']]) {
      const error = await client
        .request({ type: 'message.send', conversationId: direct, clientMsgId, body: 'with a file', attachmentIds: [id] })
        .then(() => null, (e: any) => e);
      expect(error?.code, clientMsgId).toBe('VALIDATION_FAILED');
      expect(error.details).toEqual({ attachmentId: id });
      const rows = await db.sql`select id from messages where sender_id = 'alice' and client_msg_id = ${clientMsgId}`;
      expect(rows).toHaveLength(0);
    }
    const rows = await db.sql`select message_id from attachments where id in ${db.sql([bobs.id, elsewhere.id])}`;
    expect(rows.map((r) => r.message_id)).toEqual([null, null]);
    // Bob, its uploader, can still send his.
    const bobClient = await TestClient.live(b.ws, bob);
    const ack = await bobClient.request({ type: 'message.send', conversationId: direct, clientMsgId: 'bobs-1', body: 'mine', attachmentIds: [bobs.id] });
    expect(ack.message.attachments.map((x: any) => x.id)).toEqual([bobs.id]);
    await Promise.all([client.close(), bobClient.close()]);
  });

  it('an attachment cannot be sent twice', async () => {
    const client = await TestClient.live(a.ws, alice);
    const ref = await uploadOk(alice, direct, PNG, 'image/png', 'once.png');
    const first = await client.request({ type: 'message.send', conversationId: direct, clientMsgId: 'once-1', body: 'first', attachmentIds: [ref.id] });
    // A retry of the same send is the same message (idempotent), not a second use.
    const retry = await client.request({ type: 'message.send', conversationId: direct, clientMsgId: 'once-1', body: 'first', attachmentIds: [ref.id] });
    expect(retry).toEqual({ message: first.message, duplicate: true });
    const error = await client
      .request({ type: 'message.send', conversationId: direct, clientMsgId: 'once-2', body: 'again', attachmentIds: [ref.id] })
      .then(() => null, (e: any) => e);
    expect(error?.code).toBe('VALIDATION_FAILED');
    expect(await db.sql`select id from messages where sender_id = 'alice' and client_msg_id = 'once-2'`).toHaveLength(0);
    const [row] = await db.sql`select message_id from attachments where id = ${ref.id}`;
    expect(row!.message_id).toBe(first.message.id);
    await client.close();
  });

  it('once its message is deleted, the attachment is refused and removed', async () => {
    const client = await TestClient.live(a.ws, alice);
    const ref = await uploadOk(alice, direct, PNG, 'image/png', 'regret.png');
    const ack = await client.request({ type: 'message.send', conversationId: direct, clientMsgId: 'regret-1', body: 'oops', attachmentIds: [ref.id] });
    expect((await download(b, bob, ref.id)).status).toBe(200);
    const [{ storage_key: key }] = await db.sql<[{ storage_key: string }]>`select storage_key from attachments where id = ${ref.id}`;
    const blob = path.join(dir, key.slice(0, 2), key);
    expect(existsSync(blob)).toBe(true);

    await client.request({ type: 'message.delete', conversationId: direct, messageId: ack.message.id });
    const got = await download(b, bob, ref.id);
    expect(got.status).toBe(403);
    expect(got.json().code).toBe('FORBIDDEN');
    expect(await db.sql`select id from attachments where id = ${ref.id}`).toHaveLength(0);
    expect(existsSync(blob)).toBe(false);
    expect((await download(a, alice, ref.id)).status).toBe(403);
    await client.close();
  });
});
