/**
 * Bad input on a WebSocket gets a clear, typed error frame, and the connection and
 * the data survive (invariant 7); frame size and message length are bounded (invariant 8).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4, mintV5 } from '@chat/test-support/tokens';
import { TestClient, type Frame } from '@chat/test-support/ws-client';

let db: TestDatabase;
let main: Instance;
let alice: string;
let carol: string;
/** alice ↔ bob. */
let ours: string;
/** carol ↔ dave: alice is not a member. */
let theirs: string;
/** alice's socket, resumed (subscribed to her conversations). */
let live: TestClient;
/** alice's socket that never resumed (no subscriptions). */
let fresh: TestClient;
const clients: TestClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  main = await startInstance(db.url);
  alice = await mintV4({ sub: 'alice', name: 'Alice' });
  carol = await mintV5({ sub: 'carol', name: 'Carol' });
  for (const token of [alice, carol, await mintV4({ sub: 'bob' }), await mintV5({ sub: 'dave' })]) {
    expect((await api(main, token, 'GET', '/v1/me')).status).toBe(200);
  }
  const a = await api(main, alice, 'POST', '/v1/conversations/direct', { userId: 'bob' });
  expect(a.status).toBe(201);
  ours = a.body.id;
  const c = await api(main, carol, 'POST', '/v1/conversations/direct', { userId: 'dave' });
  expect(c.status).toBe(201);
  theirs = c.body.id;
  // Something in both conversations already, so "nothing changed" is a real comparison.
  expect((await api(main, alice, 'POST', `/v1/conversations/${ours}/messages`, { clientMsgId: 'seed-a', body: 'hi bob' })).status).toBe(201);
  expect((await api(main, carol, 'POST', `/v1/conversations/${theirs}/messages`, { clientMsgId: 'seed-c', body: 'hi dave' })).status).toBe(201);

  live = track(await TestClient.live(main.ws, alice));
  fresh = track(await TestClient.connect(main.ws, { token: alice }));
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await main?.close();
  await db?.drop();
});

function track(client: TestClient): TestClient {
  clients.push(client);
  return client;
}

async function dbState(): Promise<{ messages: number; seqs: Record<string, number> }> {
  const [{ count }] = await db.sql<[{ count: number }]>`select count(*)::int as count from messages`;
  const rows = await db.sql<{ id: string; last_seq: number }[]>`select id, last_seq from conversations`;
  return { messages: count, seqs: Object.fromEntries(rows.map((r) => [r.id, r.last_seq])) };
}

/**
 * Sends one raw frame and returns the single error frame it caused. Then checks the
 * connection is still usable (a ping is acked) and that the bad frame caused no other
 * error, and that the database is exactly as it was.
 */
async function rejects(client: TestClient, raw: string | Buffer, binary = false): Promise<Frame> {
  const state = await dbState();
  const start = client.frames.length;
  client.sendRaw(raw, binary);
  const error = await eventually(() => client.frames.slice(start).find((f) => f.type === 'error'), 'an error frame');
  expect(await client.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
  expect(client.closeCode).toBeNull();
  expect(client.frames.slice(start).filter((f) => f.type === 'error')).toHaveLength(1);
  expect(client.frames.slice(start).filter((f) => f.type === 'message.created')).toEqual([]);
  expect(await dbState()).toEqual(state);
  return error;
}

const json = (value: unknown) => JSON.stringify(value);
const paths = (error: Frame) => (error.details as { path: string }[]).map((d) => d.path);

describe('malformed frames get typed errors and the connection stays usable', () => {
  it('invalid JSON: INVALID_FRAME with id null', async () => {
    const error = await rejects(live, '{"type":"message.send","id":"j1","conversationId":');
    expect(error).toEqual({ type: 'error', id: null, code: 'INVALID_FRAME', message: expect.any(String), retryable: false });
  });

  it('a JSON array, or any JSON that is not an object: INVALID_FRAME with id null', async () => {
    const send = { type: 'message.send', id: 'arr', conversationId: ours, clientMsgId: 'arr-1', body: 'in an array' };
    for (const raw of [json([send]), json([]), 'null', '42', '"ping"', 'true']) {
      const error = await rejects(live, raw);
      expect(error).toMatchObject({ type: 'error', id: null, code: 'INVALID_FRAME', retryable: false });
    }
  });

  it('unknown or missing type: INVALID_FRAME with the id echoed and the allowed types listed', async () => {
    const unknown = await rejects(live, json({ type: 'message.explode', id: 'u1', messageId: randomUUID() }));
    expect(unknown).toMatchObject({ type: 'error', id: 'u1', code: 'INVALID_FRAME', retryable: false });
    expect(unknown.details.allowed).toEqual(expect.arrayContaining(['ping', 'resume', 'message.send', 'auth.refresh']));
    expect(unknown.details.allowed).not.toContain('message.explode');

    const missing = await rejects(live, json({ id: 'u2', conversationId: ours, clientMsgId: 'no-type', body: 'x' }));
    expect(missing).toMatchObject({ id: 'u2', code: 'INVALID_FRAME' });
    const notString = await rejects(live, json({ type: 7, id: 'u3' }));
    expect(notString).toMatchObject({ id: 'u3', code: 'INVALID_FRAME' });
  });

  it('an id that is not a usable request id is not echoed', async () => {
    for (const id of [17, '', 'x'.repeat(65), { nested: true }]) {
      const error = await rejects(live, json({ type: 'nope', id }));
      expect(error).toMatchObject({ id: null, code: 'INVALID_FRAME' });
    }
    // 64 characters is still a request id.
    const longest = 'y'.repeat(64);
    expect(await rejects(live, json({ type: 'nope', id: longest }))).toMatchObject({ id: longest, code: 'INVALID_FRAME' });
  });

  it('missing fields: VALIDATION_FAILED with details, id echoed', async () => {
    const error = await rejects(live, json({ type: 'message.send', id: 'm1', conversationId: ours }));
    expect(error).toMatchObject({ type: 'error', id: 'm1', code: 'VALIDATION_FAILED', retryable: false });
    expect(paths(error)).toEqual(expect.arrayContaining(['/clientMsgId', '/body']));

    const noId = await rejects(live, json({ type: 'ping' }));
    expect(noId).toMatchObject({ id: null, code: 'VALIDATION_FAILED' });
    expect(paths(noId)).toContain('/id');

    const refresh = await rejects(live, json({ type: 'auth.refresh', id: 'm2' }));
    expect(refresh).toMatchObject({ id: 'm2', code: 'VALIDATION_FAILED' });
    expect(paths(refresh)).toContain('/token');
  });

  it('wrong types: VALIDATION_FAILED with details, id echoed', async () => {
    const error = await rejects(live, json({ type: 'message.send', id: 't1', conversationId: 42, clientMsgId: 'types-1', body: ['hi'] }));
    expect(error).toMatchObject({ id: 't1', code: 'VALIDATION_FAILED' });
    expect(paths(error)).toEqual(expect.arrayContaining(['/conversationId', '/body']));

    const notUuid = await rejects(live, json({ type: 'message.send', id: 't2', conversationId: 'not-a-uuid', clientMsgId: 'types-2', body: 'hi' }));
    expect(notUuid).toMatchObject({ id: 't2', code: 'VALIDATION_FAILED' });
    expect(paths(notUuid)).toEqual(['/conversationId']);

    // An empty body is valid only with attachments: refused by the domain check.
    const emptyBody = await rejects(live, json({ type: 'message.send', id: 't3', conversationId: ours, clientMsgId: 'types-3', body: '' }));
    expect(emptyBody).toMatchObject({ id: 't3', code: 'VALIDATION_FAILED', message: expect.stringContaining('attachment') });

    const resume = await rejects(live, json({ type: 'resume', id: 't4', conversations: { [ours]: -1 } }));
    expect(resume).toMatchObject({ id: 't4', code: 'VALIDATION_FAILED' });
  });

  it('text PostgreSQL cannot store (U+0000) is refused at the boundary and nothing is written', async () => {
    const before = await db.sql<[{ count: number }]>`select count(*)::int from messages`;
    const error = await rejects(live, json({ type: 'message.send', id: 'nul', conversationId: ours, clientMsgId: 'nul-1', body: 'a\u0000b' }));
    expect(error).toMatchObject({ id: 'nul', code: 'VALIDATION_FAILED' });
    expect(paths(error)).toEqual(['/body']);
    const after = await db.sql<[{ count: number }]>`select count(*)::int from messages`;
    expect(after[0].count).toBe(before[0].count);
  });

  it('a blank body (whitespace only) is refused with VALIDATION_FAILED', async () => {
    const error = await rejects(live, json({ type: 'message.send', id: 'blank', conversationId: ours, clientMsgId: 'blank-1', body: ' \n\t ' }));
    expect(error).toMatchObject({ id: 'blank', code: 'VALIDATION_FAILED', retryable: false });
  });

  it('extra properties: VALIDATION_FAILED, id echoed', async () => {
    const send = await rejects(
      live,
      json({ type: 'message.send', id: 'x1', conversationId: ours, clientMsgId: 'extra-1', body: 'otherwise fine', senderId: 'bob' }),
    );
    expect(send).toMatchObject({ id: 'x1', code: 'VALIDATION_FAILED' });
    expect(paths(send)).toContain('/senderId');

    const ping = await rejects(live, json({ type: 'ping', id: 'x2', extra: 1 }));
    expect(ping).toMatchObject({ id: 'x2', code: 'VALIDATION_FAILED' });
  });

  it('a body over 49152 characters: VALIDATION_FAILED on /body (the frame schema refuses it before the domain); over 4000 in a plain conversation: PAYLOAD_TOO_LARGE', async () => {
    // The schema's bound is a sealed envelope's (LIMITS.maxEnvelopeChars, docs/e2e.md).
    const error = await rejects(live, json({ type: 'message.send', id: 'long', conversationId: ours, clientMsgId: 'long-1', body: 'a'.repeat(49_153) }));
    expect(error).toMatchObject({ type: 'error', id: 'long', code: 'VALIDATION_FAILED', retryable: false });
    expect(paths(error)).toEqual(['/body']);
    // MAX_BODY_CHARS, per conversation, in the domain.
    const tooLong = await rejects(live, json({ type: 'message.send', id: 'long2', conversationId: ours, clientMsgId: 'long-2', body: 'a'.repeat(4001) }));
    expect(tooLong).toMatchObject({ type: 'error', id: 'long2', code: 'PAYLOAD_TOO_LARGE', retryable: false });

    // Exactly 4000 is allowed: the bound is where the protocol says.
    const before = await dbState();
    const ack = await live.request({ type: 'message.send', conversationId: ours, clientMsgId: 'long-ok', body: 'a'.repeat(4000) });
    expect(ack.message.body).toHaveLength(4000);
    expect((await dbState()).messages).toBe(before.messages + 1);
    // Its live event reaches this (subscribed) socket, before the next test starts counting frames.
    await live.waitFor((f) => f.type === 'message.created' && f.message.id === ack.message.id);
  });

  it('a binary frame: UNSUPPORTED_FRAME, even when it holds a valid frame, and the socket stays open', async () => {
    const error = await rejects(live, Buffer.from(json({ type: 'ping', id: 'bin' })), true);
    expect(error).toEqual({ type: 'error', id: null, code: 'UNSUPPORTED_FRAME', message: expect.any(String), retryable: false });
    expect(live.frames.some((f) => f.type === 'ack' && f.id === 'bin')).toBe(false);

    const send = await rejects(
      live,
      Buffer.from(json({ type: 'message.send', id: 'bin2', conversationId: ours, clientMsgId: 'bin-1', body: 'binary' })),
      true,
    );
    expect(send).toMatchObject({ id: null, code: 'UNSUPPORTED_FRAME' });
  });
});

describe('frame size limit (64 KiB)', () => {
  const LIMIT = 64 * 1024;

  /** A frame of exactly `bytes` bytes (ASCII), valid JSON, that would be a send to `ours`. */
  function frameOf(bytes: number, id: string): string {
    const base = json({ type: 'message.send', id, conversationId: ours, clientMsgId: id, body: '' });
    const frame = json({ type: 'message.send', id, conversationId: ours, clientMsgId: id, body: 'b'.repeat(bytes - base.length) });
    expect(Buffer.byteLength(frame)).toBe(bytes);
    return frame;
  }

  it('a frame of exactly 64 KiB is read and gets a typed error (its body is too long)', async () => {
    const error = await rejects(live, frameOf(LIMIT, 'at-limit'));
    expect(error).toMatchObject({ id: 'at-limit', code: 'VALIDATION_FAILED' });
    expect(paths(error)).toEqual(['/body']);
  });

  it('a frame over 64 KiB closes that socket with 1009; the instance keeps serving', async () => {
    const state = await dbState();
    const victim = track(await TestClient.live(main.ws, alice));
    victim.sendRaw(frameOf(LIMIT + 1, 'too-big'));
    expect(await victim.waitClosed()).toBe(1009);
    expect(victim.frames.some((f) => f.id === 'too-big')).toBe(false);

    // Other sockets of the same user are untouched, and new connections are served.
    expect(await live.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
    expect(live.closeCode).toBeNull();
    const next = track(await TestClient.live(main.ws, alice));
    expect(await next.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
    expect(await dbState()).toEqual(state);
    const ack = await next.request({ type: 'message.send', conversationId: ours, clientMsgId: 'after-1009', body: 'still here' });
    expect(ack.message.seq).toBe(state.seqs[ours]! + 1);
    await live.waitFor((f) => f.type === 'message.created' && f.message.id === ack.message.id);
    await next.close();
  });
});

describe('sends to conversations the user may not write to', () => {
  it('a conversation id that does not exist: FORBIDDEN, nothing written', async () => {
    for (const client of [live, fresh]) {
      const error = await rejects(client, json({ type: 'message.send', id: 'ghost', conversationId: randomUUID(), clientMsgId: `ghost-${randomUUID()}`, body: 'anyone?' }));
      expect(error).toMatchObject({ type: 'error', id: 'ghost', code: 'FORBIDDEN', retryable: false });
    }
  });

  it('a conversation the user is not a member of: FORBIDDEN, nothing written', async () => {
    // `live` is subscribed to its own conversations only; `fresh` to none. Both are checked.
    for (const client of [live, fresh]) {
      const error = await rejects(client, json({ type: 'message.send', id: 'intrude', conversationId: theirs, clientMsgId: `intrude-${randomUUID()}`, body: 'let me in' }));
      expect(error).toMatchObject({ type: 'error', id: 'intrude', code: 'FORBIDDEN', retryable: false });
    }
    const [row] = await db.sql`select count(*)::int as count from messages where conversation_id = ${theirs} and sender_id = 'alice'`;
    expect(row!.count).toBe(0);
  });

  it('the same sockets can still send where they are members', async () => {
    const before = await dbState();
    const a = await live.request({ type: 'message.send', conversationId: ours, clientMsgId: 'member-1', body: 'ok' });
    const b = await fresh.request({ type: 'message.send', conversationId: ours, clientMsgId: 'member-2', body: 'ok too' });
    expect(b.message.seq).toBe(a.message.seq + 1);
    for (const ack of [a, b]) await live.waitFor((f) => f.type === 'message.created' && f.message.id === ack.message.id);
    expect((await dbState()).messages).toBe(before.messages + 2);
  });
});
