/** Connect → ready → resume → send → ack, against a real service; the event reaches a second client. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatError, type ChatClient } from '../src/index.ts';
import { clientFor, connected, eventually, mint, record, rowsWithClientMsgId, startService, type Service } from './support/service.ts';

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<ChatError> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => {
      expect(error).toBeInstanceOf(ChatError);
      return error as ChatError;
    },
  );
}

let service: Service;
let attachmentsDir: string;
let aliceToken: string;
let bobToken: string;
let conversationId: string;
const clients: ChatClient[] = [];
const open = (...args: Parameters<typeof clientFor>) => {
  const client = clientFor(...args);
  clients.push(client);
  return client;
};

beforeAll(async () => {
  attachmentsDir = await mkdtemp(path.join(tmpdir(), 'chat-client-attachments-'));
  service = await startService({ attachmentsDir });
  [aliceToken, bobToken] = await Promise.all([mint('alice'), mint('bob')]);
  const alice = open(service.instance, aliceToken);
  const bob = open(service.instance, bobToken);
  await bob.http.me(); // bob exists before alice adds him
  conversationId = (await alice.http.createGroup({ title: 'sdk', memberIds: ['bob'] })).id;
});

afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

afterAll(async () => {
  await service?.close();
  await rm(attachmentsDir, { recursive: true, force: true });
});

describe('ChatClient over a real service', () => {
  it('connects, resumes, sends with an ack, and the event reaches another client', async () => {
    const alice = open(service.instance, aliceToken);
    const bob = open(service.instance, bobToken);
    const aliceLog = record(alice);
    const bobLog = record(bob);
    alice.connect();
    bob.connect();
    await Promise.all([connected(alice), connected(bob)]);
    // The resume ack lists the conversation: new to a client that tracked nothing.
    const info = await eventually(() => bobLog.conversations[0]);
    expect(info.added).toContain(conversationId);
    const startSeq = info.conversations.find((c) => c.id === conversationId)!.lastSeq;
    expect(startSeq).toBe((await bob.http.conversation(conversationId)).lastSeq); // member events have seqs too
    await eventually(() => aliceLog.conversations.length > 0);

    const { clientMsgId, done } = alice.send({ conversationId, body: 'hello bob' });
    expect(alice.outbox().map((i) => i.clientMsgId)).toContain(clientMsgId);
    const result = await done;
    expect(result.duplicate).toBe(false);
    expect(result.message).toMatchObject({ conversationId, clientMsgId, body: 'hello bob', senderId: 'alice', seq: startSeq + 1 });
    expect(alice.outbox()).toEqual([]);
    expect(alice.state.queued).toBe(0);

    const received = await eventually(() => bobLog.messages(conversationId).find((m) => m.clientMsgId === clientMsgId));
    expect(received.id).toBe(result.message.id);
    await eventually(() => aliceLog.messages(conversationId).length === 1); // the sender gets its own event too
    expect(aliceLog.statuses()).toEqual(['idle', 'connecting', 'connected']);
    expect(aliceLog.illegalTransitions()).toEqual([]);
    expect(await rowsWithClientMsgId(service.db, clientMsgId)).toBe(1);
  });

  it('replays what it missed from its tracked seq, once, with no duplicates', async () => {
    const bob = open(service.instance, bobToken);
    const log = record(bob);
    const { lastSeq: last } = await bob.http.conversation(conversationId);
    bob.track(conversationId, last);
    // Sent while bob is away:
    const alice = open(service.instance, aliceToken);
    for (let i = 0; i < 5; i++) await alice.http.send(conversationId, { clientMsgId: `away-${i}-${Date.now()}`, body: `away ${i}` });
    bob.connect();
    await connected(bob);
    await eventually(() => log.messages(conversationId).length === 5, 'replayed messages');
    expect(log.messages(conversationId).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5].map((n) => last + n));
    // Tracking a seq it already passed changes nothing; a duplicate resume replays nothing new.
    bob.track(conversationId, last);
    const { duplicate } = await alice.http.send(conversationId, { clientMsgId: `live-${Date.now()}`, body: 'live' });
    expect(duplicate).toBe(false);
    await eventually(() => log.messages(conversationId).length === 6);
    const seqs = log.events.filter((e) => e.conversationId === conversationId).map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('types requests and their errors; reactions, reads and typing flow to the other side', async () => {
    const alice = open(service.instance, aliceToken);
    const bob = open(service.instance, bobToken);
    const bobLog = record(bob);
    const signals: string[] = [];
    bob.on('signal', (s) => signals.push(`${s.type}:${s.type === 'typing' ? s.state : ''}`));
    alice.connect();
    bob.connect();
    await Promise.all([connected(alice), connected(bob)]);
    await eventually(() => bobLog.conversations.length > 0);

    const pong = await alice.request({ type: 'ping' });
    expect(typeof pong.time).toBe('string');
    const { message } = await alice.send({ conversationId, body: 'react to me' }).done;
    const reaction = await bob.react(conversationId, message.id, '👍', true);
    expect(reaction.seq).toBeGreaterThan(message.seq);
    await bob.markRead(conversationId, message.seq);
    const edited = await alice.edit(conversationId, message.id, 'edited');
    expect(edited.seq).not.toBeNull();
    await alice.typing(conversationId, 'start');
    await eventually(() => signals.includes('typing:start'), 'typing signal');
    await eventually(() => bobLog.events.some((e) => e.type === 'message.edited' && e.messageId === message.id));

    // Errors carry the server's typed code.
    const notMine = await bob.edit(conversationId, message.id, 'hijack').catch((e: unknown) => e);
    expect(notMine).toBeInstanceOf(ChatError);
    expect((notMine as ChatError).code).toBe('FORBIDDEN');
    const invalid = await alice.request({ type: 'message.edit', conversationId: 'nope', messageId: message.id, body: 'x' }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ code: 'VALIDATION_FAILED', retryable: false });
    const http = await alice.http.conversation('00000000-0000-4000-8000-000000000000').catch((e: unknown) => e);
    expect(http).toBeInstanceOf(ChatError);
    expect((http as ChatError).code).toMatch(/^(NOT_FOUND|FORBIDDEN)$/);
    expect((http as ChatError).status).toBeGreaterThanOrEqual(400);
  });

  it('marks a send the server refuses as failed; retry and discard', async () => {
    const alice = open(service.instance, aliceToken);
    alice.connect();
    await connected(alice);
    const stranger = (await alice.http.createGroup({ title: 'private' })).id;
    // A conversation that does not exist: FORBIDDEN/NOT_FOUND, not retryable.
    const { clientMsgId, done } = alice.send({ conversationId: '00000000-0000-4000-8000-000000000000', body: 'into the void' });
    const error = await rejection(done);
    expect(error.retryable).toBe(false);
    expect(alice.outbox()).toMatchObject([{ clientMsgId, status: 'failed', error: { code: error.code } }]);
    expect(alice.state.queued).toBe(0);
    await expect(alice.retry(clientMsgId)).rejects.toMatchObject({ code: error.code });
    expect(alice.discard(clientMsgId)).toBe(true);
    expect(alice.outbox()).toEqual([]);
    expect(await rowsWithClientMsgId(service.db, clientMsgId)).toBe(0);
    // A good send to a conversation created after the resume: tracking it resumes again.
    alice.track(stranger, 0);
    const ok = await alice.send({ conversationId: stranger, body: 'fine' }).done;
    expect(ok.message.seq).toBeGreaterThan(0);
  });

  it('uploads an attachment, sends it, downloads it, and finds messages by search', async () => {
    const alice = open(service.instance, aliceToken);
    const bob = open(service.instance, bobToken);
    const bobLog = record(bob);
    alice.connect();
    bob.connect();
    await Promise.all([connected(alice), connected(bob)]);
    await eventually(() => bobLog.conversations.length > 0);

    const file = new Blob(['quarterly numbers'], { type: 'text/plain' });
    const ref = await alice.http.upload(conversationId, file, 'numbers.txt');
    expect(ref).toMatchObject({ filename: 'numbers.txt', contentType: 'text/plain', size: 17 });
    const { message } = await alice.send({ conversationId, body: 'the zanzibar report', attachmentIds: [ref.id] }).done;
    expect(message.attachments.map((a) => a.id)).toEqual([ref.id]);
    await eventually(() => bobLog.messages(conversationId).some((m) => m.id === message.id && m.attachments.length === 1));
    const download = await fetch(bob.http.attachmentUrl(ref.id), { headers: { authorization: `Bearer ${bobToken}` } });
    expect(download.status).toBe(200);
    expect(await download.text()).toBe('quarterly numbers');
    expect((await fetch(bob.http.attachmentUrl(ref.id, bobToken))).status).toBe(200);
    // A wrong type is refused with the server's code.
    const refused = await rejection(alice.http.upload(conversationId, new Blob(['x'], { type: 'application/x-msdownload' }), 'x.exe'));
    expect(refused.code).toBe('UNSUPPORTED_MEDIA_TYPE');

    const page = await eventually(async () => {
      const found = await bob.http.search({ q: 'zanzibar', conversationId });
      return found.results.length > 0 ? found : null;
    });
    expect(page.results[0]!.id).toBe(message.id);
    expect(page.results[0]!.snippet.map((s) => s.text).join('')).toContain('zanzibar');
  });
});
