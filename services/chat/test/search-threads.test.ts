import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';

interface Message {
  id: string;
  conversationId: string;
  seq: number;
  senderId: string;
  body: string | null;
  replyToId: string | null;
  replyTo?: { id: string; senderId: string; preview: string | null } | null;
  createdAt: string;
  editedAt: string | null;
}
interface Segment {
  text: string;
  match: boolean;
}
interface Hit extends Message {
  snippet: Segment[];
}

let db: TestDatabase;
let a: Instance;
const tokens: Record<string, string> = {};
const clients: Record<string, TestClient> = {};
/** alice + bob */
let group: string;
/** alice ↔ bob */
let direct: string;
/** carol + dave: alice is not a member */
let others: string;
let counter = 0;

async function send(user: string, conversationId: string, body: string, replyToId?: string): Promise<Message> {
  const r = await api(a, tokens[user]!, 'POST', `/v1/conversations/${conversationId}/messages`, {
    clientMsgId: `st-${++counter}`,
    body,
    ...(replyToId ? { replyToId } : {}),
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.message as Message;
}

/** Sends over the WebSocket and returns the stored message (the ack). */
async function sendWs(user: string, conversationId: string, body: string, replyToId?: string): Promise<Message> {
  const result = await clients[user]!.request<{ message: Message }>({
    type: 'message.send',
    conversationId,
    clientMsgId: `st-${++counter}`,
    body,
    ...(replyToId ? { replyToId } : {}),
  });
  return result.message;
}

async function search(user: string, query: Record<string, string | number>): Promise<{ status: number; body: any }> {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
  return api(a, tokens[user]!, 'GET', `/v1/search?${qs}`);
}

async function hits(user: string, query: Record<string, string | number>): Promise<Hit[]> {
  const r = await search(user, query);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.results as Hit[];
}

const snippetText = (hit: Hit) => hit.snippet.map((s) => s.text).join('');
const matched = (hit: Hit) => hit.snippet.filter((s) => s.match).map((s) => s.text);

beforeAll(async () => {
  db = await createTestDatabase();
  a = await startInstance(db.url);
  for (const user of ['alice', 'bob', 'carol', 'dave']) {
    tokens[user] = await mintV4({ sub: user, name: user });
    expect((await api(a, tokens[user]!, 'GET', '/v1/me')).status).toBe(200);
  }
  group = (await api(a, tokens.alice!, 'POST', '/v1/conversations', { title: 'search', memberIds: ['bob'] })).body.id;
  direct = (await api(a, tokens.alice!, 'POST', '/v1/conversations/direct', { userId: 'bob' })).body.id;
  others = (await api(a, tokens.carol!, 'POST', '/v1/conversations', { title: 'private', memberIds: ['dave'] })).body.id;
  expect([group, direct, others].every((id) => typeof id === 'string')).toBe(true);
  for (const user of ['alice', 'bob', 'carol']) clients[user] = await TestClient.connect(a.ws, { token: tokens[user]! });
});

afterAll(async () => {
  await Promise.all(Object.values(clients).map((c) => c.close()));
  await a?.close();
  await db?.drop();
});

describe('search', () => {
  let inGroup: Message;
  let inDirect: Message;
  let inOthers: Message;

  beforeAll(async () => {
    inGroup = await send('alice', group, 'The zebra crossing on Main Street is closed');
    await send('alice', group, 'a horse, not a match');
    inDirect = await send('bob', direct, 'I saw a Zebra at the zoo today');
    inOthers = await send('carol', others, 'zebra secret plans');
  });

  it("finds words across the caller's conversations and nothing from others'", async () => {
    const found = await hits('alice', { q: 'zebra' });
    expect(found.map((h) => h.id)).toEqual([inDirect.id, inGroup.id]); // newest first
    expect(found[0]).toMatchObject({ conversationId: direct, senderId: 'bob', body: inDirect.body, seq: inDirect.seq });

    expect((await hits('bob', { q: 'zebra' })).map((h) => h.id)).toEqual([inDirect.id, inGroup.id]);
    expect((await hits('carol', { q: 'zebra' })).map((h) => h.id)).toEqual([inOthers.id]);
    expect(await hits('dave', { q: 'zebra crossing' })).toEqual([]);
    // web-search syntax: phrases and exclusions
    expect((await hits('alice', { q: '"zebra crossing"' })).map((h) => h.id)).toEqual([inGroup.id]);
    expect((await hits('alice', { q: 'zebra -zoo' })).map((h) => h.id)).toEqual([inGroup.id]);
  });

  it('restricts to one conversation, and only for its members', async () => {
    expect((await hits('alice', { q: 'zebra', conversationId: direct })).map((h) => h.id)).toEqual([inDirect.id]);
    expect((await hits('alice', { q: 'zebra', conversationId: group })).map((h) => h.id)).toEqual([inGroup.id]);

    const forbidden = await search('alice', { q: 'zebra', conversationId: others });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.code).toBe('FORBIDDEN');
    const unknown = await search('alice', { q: 'zebra', conversationId: randomUUID() });
    expect(unknown.status).toBe(403);
    expect(unknown.body.code).toBe('FORBIDDEN');
  });

  it('never matches a deleted message', async () => {
    const message = await send('alice', group, 'ephemeral kiwi smoothie recipe');
    expect((await hits('bob', { q: 'kiwi' })).map((h) => h.id)).toEqual([message.id]);

    const deleted = await clients.alice!.request<{ seq: number | null }>({ type: 'message.delete', conversationId: group, messageId: message.id });
    expect(deleted.seq).toBeGreaterThan(message.seq);
    expect(await hits('bob', { q: 'kiwi' })).toEqual([]);
    expect(await hits('alice', { q: 'kiwi smoothie', conversationId: group })).toEqual([]);
  });

  it('finds the current text of an edited message, not the old one', async () => {
    const message = await send('alice', group, 'meet at the blueberry cafe');
    expect((await hits('alice', { q: 'blueberry' })).map((h) => h.id)).toEqual([message.id]);
    await clients.alice!.request({ type: 'message.edit', conversationId: group, messageId: message.id, body: 'meet at the raspberry cafe' });
    expect(await hits('alice', { q: 'blueberry' })).toEqual([]);
    const [hit] = await hits('alice', { q: 'raspberry' });
    expect(hit?.id).toBe(message.id);
    expect(hit?.body).toBe('meet at the raspberry cafe');
    expect(hit?.editedAt).not.toBeNull();
  });

  it('marks matched words in plain-text snippets, user HTML included as text', async () => {
    const html = await send('alice', group, '<b>pizza</b> party & <script>alert(1)</script>');
    const [hit] = await hits('bob', { q: 'pizza' });
    expect(hit?.id).toBe(html.id);
    expect(hit!.snippet).toContainEqual({ text: 'pizza', match: true });
    expect(matched(hit!)).toEqual(['pizza']);
    expect(hit!.snippet.some((s) => !s.match && s.text.includes('<b>'))).toBe(true);
    expect(snippetText(hit!)).toBe('<b>pizza</b> party & <script>alert(1)</script>');

    // Every case of the word is marked, and the text keeps its case.
    const cased = await send('bob', direct, 'Pizza tonight? PIZZA!');
    const [casedHit] = await hits('alice', { q: 'pizza', conversationId: direct });
    expect(casedHit?.id).toBe(cased.id);
    expect(casedHit!.snippet).toEqual([
      { text: 'Pizza', match: true },
      { text: ' tonight? ', match: false },
      { text: 'PIZZA', match: true },
      { text: '!', match: false },
    ]);

    // Marker characters typed by a user cannot fake a highlight.
    const forged = await send('alice', group, 'fake \u0002highlight\u0003 next to the pineapple');
    const [forgedHit] = await hits('alice', { q: 'pineapple' });
    expect(forgedHit?.id).toBe(forged.id);
    expect(matched(forgedHit!)).toEqual(['pineapple']);
    expect(snippetText(forgedHit!)).not.toMatch(/[\u0001-\u0003]/);
    expect(snippetText(forgedHit!)).toContain('highlight');

    // A long body gives fragments around the matches, not the whole text.
    const filler = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${'x'.repeat(3)}${i}`).join(' ');
    const longBody = `${filler(40, 'start')} the anchovy topping ${filler(40, 'middle')} more anchovy please ${filler(40, 'end')}`;
    const long = await send('alice', group, longBody);
    const [longHit] = await hits('alice', { q: 'anchovy' });
    expect(longHit?.id).toBe(long.id);
    expect(longHit?.body).toBe(longBody);
    expect(matched(longHit!)).toEqual(['anchovy', 'anchovy']);
    expect(snippetText(longHit!).length).toBeLessThan(longBody.length / 2);
    expect(snippetText(longHit!)).toContain(' ... ');
  });

  it('pages newest first with the cursor: no duplicates, no gaps', async () => {
    const sequential: Message[] = [];
    for (let i = 0; i < 13; i++) sequential.push(await send(i % 2 ? 'bob' : 'alice', i % 3 ? group : direct, `mango number ${i}`));
    const concurrent = await Promise.all(Array.from({ length: 10 }, (_, i) => send('alice', group, `mango batch ${i}`)));
    const all = [...sequential, ...concurrent];
    // Eight messages with the very same created_at: only the id tells them apart.
    await db.sql`update messages set created_at = '2030-01-01T00:00:00.123456Z' where id = any(${all.slice(3, 11).map((m) => m.id)}::uuid[])`;

    const seen: Hit[] = [];
    let before: string | null = null;
    let pages = 0;
    do {
      const r = await search('bob', { q: 'mango', limit: 5, ...(before ? { before } : {}) });
      expect(r.status).toBe(200);
      expect(r.body.results.length).toBeLessThanOrEqual(5);
      seen.push(...r.body.results);
      before = r.body.nextCursor;
      pages++;
    } while (before && pages < 20);
    expect(pages).toBe(5);
    expect(seen.length).toBe(all.length);
    expect(new Set(seen.map((h) => h.id)).size).toBe(all.length);
    expect(new Set(seen.map((h) => h.id))).toEqual(new Set(all.map((m) => m.id)));
    // Strictly descending by (createdAt, id).
    for (let i = 1; i < seen.length; i++) {
      const [p, c] = [seen[i - 1]!, seen[i]!];
      expect(p.createdAt > c.createdAt || (p.createdAt === c.createdAt && p.id > c.id), `${i}`).toBe(true);
    }
    // The tied ones come first (2030) and are all there.
    expect(new Set(seen.slice(0, 8).map((h) => h.id))).toEqual(new Set(all.slice(3, 11).map((m) => m.id)));

    // Default page size is 20; a restricted search pages too.
    const first = await search('bob', { q: 'mango' });
    expect(first.body.results).toHaveLength(20);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await search('bob', { q: 'mango', before: first.body.nextCursor });
    expect(second.body.results).toHaveLength(3);
    expect(second.body.nextCursor).toBeNull();
    const directOnly = await hits('bob', { q: 'mango', conversationId: direct, limit: 50 });
    expect(directOnly.map((h) => h.id).sort()).toEqual(sequential.filter((m) => m.conversationId === direct).map((m) => m.id).sort());
  });

  it('refuses a bad q, limit or cursor, and answers an empty page for a query with no words', async () => {
    const invalid: Record<string, string | number>[] = [{}, { q: '' }, { q: 'x'.repeat(201) }, { q: 'zebra', limit: 0 }, { q: 'zebra', limit: 51 }, { q: 'zebra', conversationId: 'nope' }];
    for (const query of invalid) {
      const r = await search('alice', query);
      expect(r.status, JSON.stringify(query)).toBe(400);
      expect(r.body.code).toBe('VALIDATION_FAILED');
    }
    for (const before of ['garbage', Buffer.from('2030-02-30T00:00:00.000000Z|' + randomUUID()).toString('base64url'), Buffer.from('x|y').toString('base64url')]) {
      const r = await search('alice', { q: 'zebra', before });
      expect(r.status, before).toBe(400);
      expect(r.body.code).toBe('VALIDATION_FAILED');
    }
    expect((await search('alice', { q: 'zebra '.repeat(40).slice(0, 200) })).status).toBe(200);
    for (const q of ['!!!', '   ', '-zebra', '"" -']) {
      const r = await search('alice', { q });
      expect(r.status, q).toBe(200);
      expect(r.body).toEqual({ results: [], nextCursor: null });
    }
    const anonymous = await api(a, null, 'GET', '/v1/search?q=zebra');
    expect(anonymous.status).toBe(401);
  });
});

describe('threads', () => {
  it('lists replies in seq order with paging, and history carries the parent preview', async () => {
    const parentBody = `What should we order for lunch? ${'Options: '.repeat(20)}`;
    const parent = await sendWs('alice', group, parentBody);
    const replies: Message[] = [];
    for (let i = 0; i < 5; i++) {
      replies.push(await sendWs(i % 2 ? 'alice' : 'bob', group, `reply ${i}`, parent.id));
      await sendWs('bob', group, `unrelated ${i}`);
    }
    const path = `/v1/conversations/${group}/messages/${parent.id}/replies`;

    const all = await api(a, tokens.bob!, 'GET', path);
    expect(all.status).toBe(200);
    expect(all.body.hasMore).toBe(false);
    expect(all.body.messages.map((m: Message) => m.id)).toEqual(replies.map((m) => m.id));
    for (const m of all.body.messages as Message[]) {
      expect(m.replyToId).toBe(parent.id);
      expect(m.replyTo).toEqual({ id: parent.id, senderId: 'alice', preview: parentBody.slice(0, 140) });
    }

    const paged: string[] = [];
    let after = 0;
    const pages: boolean[] = [];
    for (;;) {
      const page = await api(a, tokens.alice!, 'GET', `${path}?limit=2&after=${after}`);
      expect(page.status).toBe(200);
      const seqs = page.body.messages.map((m: Message) => m.seq);
      expect(seqs).toEqual([...seqs].sort((x: number, y: number) => x - y));
      paged.push(...page.body.messages.map((m: Message) => m.id));
      pages.push(page.body.hasMore);
      if (!page.body.hasMore) break;
      after = seqs[seqs.length - 1];
    }
    expect(paged).toEqual(replies.map((m) => m.id));
    expect(pages).toEqual([true, true, false]);

    // The same replies in history, with the parent's preview.
    const history = await api(a, tokens.bob!, 'GET', `/v1/conversations/${group}/messages?after=${parent.seq}&limit=100`);
    const inHistory = (history.body.messages as Message[]).filter((m) => m.replyToId === parent.id);
    expect(inHistory.map((m) => m.id)).toEqual(replies.map((m) => m.id));
    expect(inHistory[0]!.replyTo).toEqual({ id: parent.id, senderId: 'alice', preview: parentBody.slice(0, 140) });
    expect(inHistory[0]!.replyTo!.preview!.length).toBe(140);

    // A message that nobody replied to has an empty thread.
    const lonely = await api(a, tokens.bob!, 'GET', `/v1/conversations/${group}/messages/${replies[0]!.id}/replies`);
    expect(lonely.body).toEqual({ messages: [], hasMore: false });

    // The parent must be a message of that conversation.
    const elsewhere = await api(a, tokens.alice!, 'GET', `/v1/conversations/${direct}/messages/${parent.id}/replies`);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.body.code).toBe('NOT_FOUND');
    const missing = await api(a, tokens.alice!, 'GET', `/v1/conversations/${group}/messages/${randomUUID()}/replies`);
    expect(missing.status).toBe(404);
    const outsider = await api(a, tokens.carol!, 'GET', path);
    expect(outsider.status).toBe(403);
    expect(outsider.body.code).toBe('FORBIDDEN');
    const badLimit = await api(a, tokens.alice!, 'GET', `${path}?limit=101`);
    expect(badLimit.status).toBe(400);
  });

  it('refuses a reply to a message of another conversation', async () => {
    const foreign = await sendWs('bob', direct, 'a message in the direct conversation');
    const refused = clients.bob!.request({ type: 'message.send', conversationId: group, clientMsgId: `st-${++counter}`, body: 'cross reply', replyToId: foreign.id });
    await expect(refused).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const viaHttp = await api(a, tokens.bob!, 'POST', `/v1/conversations/${group}/messages`, { clientMsgId: `st-${++counter}`, body: 'cross reply', replyToId: foreign.id });
    expect(viaHttp.status).toBe(400);
    expect(viaHttp.body.code).toBe('VALIDATION_FAILED');
    // Nothing was stored as a reply anywhere.
    expect((await db.sql`select count(*)::int as n from messages where reply_to_id = ${foreign.id}`)[0]!.n).toBe(0);
    expect((await hits('bob', { q: '"cross reply"' }))).toEqual([]);
  });

  it('lists the edit history, oldest first', async () => {
    const message = await sendWs('alice', group, 'first draft of the plan');
    const untouched = await sendWs('alice', group, 'never edited');
    const path = `/v1/conversations/${group}/messages/${message.id}/edits`;
    expect((await api(a, tokens.bob!, 'GET', path)).body).toEqual({ edits: [] });

    await clients.alice!.request({ type: 'message.edit', conversationId: group, messageId: message.id, body: 'second draft of the plan' });
    await clients.alice!.request({ type: 'message.edit', conversationId: group, messageId: message.id, body: 'final plan' });

    const history = await api(a, tokens.bob!, 'GET', path);
    expect(history.status).toBe(200);
    expect(history.body.edits.map((e: { previousBody: string }) => e.previousBody)).toEqual(['first draft of the plan', 'second draft of the plan']);
    const [first, second] = history.body.edits as { editedAt: string }[];
    expect(Date.parse(first!.editedAt)).toBeLessThanOrEqual(Date.parse(second!.editedAt));
    const current = await api(a, tokens.bob!, 'GET', `/v1/conversations/${group}/messages?after=${message.seq - 1}&limit=1`);
    expect(current.body.messages[0]).toMatchObject({ id: message.id, body: 'final plan', editedAt: second!.editedAt });

    expect((await api(a, tokens.alice!, 'GET', `/v1/conversations/${group}/messages/${untouched.id}/edits`)).body).toEqual({ edits: [] });
    const elsewhere = await api(a, tokens.alice!, 'GET', `/v1/conversations/${direct}/messages/${message.id}/edits`);
    expect(elsewhere.status).toBe(404);
    const outsider = await api(a, tokens.carol!, 'GET', path);
    expect(outsider.status).toBe(403);

    // Deleting erases the stored text, and keeps the edit times.
    await clients.alice!.request({ type: 'message.delete', conversationId: group, messageId: message.id });
    const erased = await api(a, tokens.alice!, 'GET', path);
    expect(erased.body.edits).toEqual([
      { previousBody: null, editedAt: first!.editedAt },
      { previousBody: null, editedAt: second!.editedAt },
    ]);
  });

  it("reports each other member's delivered and read state of a message", async () => {
    const team = (await api(a, tokens.alice!, 'POST', '/v1/conversations', { title: 'receipts', memberIds: ['bob', 'carol'] })).body.id as string;
    const m1 = await sendWs('alice', team, 'first');
    const m2 = await sendWs('alice', team, 'second');
    const receipts = async (messageId: string, user = 'alice', conversationId = team) =>
      api(a, tokens[user]!, 'GET', `/v1/conversations/${conversationId}/messages/${messageId}/receipts`);
    const state = async (messageId: string) => {
      const r = await receipts(messageId);
      expect(r.status).toBe(200);
      return Object.fromEntries((r.body.members as { userId: string; delivered: boolean; read: boolean }[]).map((m) => [m.userId, [m.delivered, m.read]]));
    };

    const initial = await receipts(m1.id);
    expect(initial.body).toEqual({
      messageId: m1.id,
      seq: m1.seq,
      members: [
        { userId: 'bob', delivered: false, read: false },
        { userId: 'carol', delivered: false, read: false },
      ],
    });

    expect((await clients.bob!.request({ type: 'delivered.mark', conversationId: team, upTo: m1.seq })).seq).toEqual(expect.any(Number));
    expect(await state(m1.id)).toEqual({ bob: [true, false], carol: [false, false] });
    expect(await state(m2.id)).toEqual({ bob: [false, false], carol: [false, false] });

    await clients.carol!.request({ type: 'read.mark', conversationId: team, upTo: m2.seq });
    expect(await state(m1.id)).toEqual({ bob: [true, false], carol: [true, true] });
    expect(await state(m2.id)).toEqual({ bob: [false, false], carol: [true, true] });

    await clients.bob!.request({ type: 'read.mark', conversationId: team, upTo: m1.seq });
    expect(await state(m1.id)).toEqual({ bob: [true, true], carol: [true, true] });
    expect(await state(m2.id)).toEqual({ bob: [false, false], carol: [true, true] });

    // A message of bob's leaves bob out and shows alice.
    const fromBob = await sendWs('bob', team, 'third');
    const bobs = await receipts(fromBob.id, 'carol');
    expect(bobs.body.members.map((m: { userId: string }) => m.userId)).toEqual(['alice', 'carol']);

    // Direct conversations too.
    const dm = await sendWs('alice', direct, 'did you get this?');
    expect((await receipts(dm.id, 'alice', direct)).body.members).toEqual([{ userId: 'bob', delivered: false, read: false }]);
    await clients.bob!.request({ type: 'read.mark', conversationId: direct, upTo: dm.seq });
    expect((await receipts(dm.id, 'alice', direct)).body.members).toEqual([{ userId: 'bob', delivered: true, read: true }]);

    const outsider = await receipts(m1.id, 'dave');
    expect(outsider.status).toBe(403);
    expect(outsider.body.code).toBe('FORBIDDEN');
    const elsewhere = await receipts(m1.id, 'alice', group);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.body.code).toBe('NOT_FOUND');
  });
});
