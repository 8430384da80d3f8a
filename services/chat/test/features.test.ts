import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { apply, emptyState } from '@chat/test-support/state';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient, type Frame } from '@chat/test-support/ws-client';

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

async function group(owner: string, members: string[], title = 'group') {
  const created = await api(a, token[owner]!, 'POST', '/v1/conversations', { title, memberIds: members });
  expect(created.status).toBe(201);
  return created.body.id as string;
}

const send = (client: TestClient, conversationId: string, body: string, extra: Record<string, unknown> = {}) =>
  client.request({ type: 'message.send', conversationId, clientMsgId: `${body}-${Math.random()}`, body, ...extra });

const waitType = (client: TestClient, type: string, match: (f: Frame) => boolean = () => true) =>
  client.waitFor((f) => f.type === type && match(f), type);

beforeAll(async () => {
  db = await createTestDatabase();
  const fast = { presenceHeartbeatMs: 100, presenceTtlSec: 2 };
  [a, b] = await Promise.all([startInstance(db.url, fast), startInstance(db.url, fast)]);
  for (const user of ['ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'gus', 'hal', 'ivy']) {
    token[user] = await mintV4({ sub: user, name: user.toUpperCase() });
    expect((await api(a, token[user]!, 'GET', '/v1/me')).status).toBe(200);
  }
  token.staff = await mintV4({ sub: 'staff', name: 'Staff', chatRole: 'admin' });
  await api(a, token.staff, 'GET', '/v1/me');
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([a?.close(), b?.close()]);
  await db?.drop();
});

describe('groups and roles', () => {
  it('an added member is subscribed live on another instance; a removed one stops receiving at once', async () => {
    const id = await group('ann', ['ben']);
    const ann = await live(a, 'ann');
    const cat = await live(b, 'cat');
    const added = await api(a, token.ann!, 'POST', `/v1/conversations/${id}/members`, { userIds: ['cat'] });
    expect(added.status).toBe(200);
    const event = await waitType(cat, 'member.added', (f) => f.conversationId === id);
    expect(event.member).toMatchObject({ userId: 'cat', role: 'member' });
    const hello = await send(ann, id, 'welcome cat');
    await cat.waitFor((f) => f.type === 'message.created' && f.message.id === hello.message.id);

    const removed = await api(b, token.ann!, 'DELETE', `/v1/conversations/${id}/members/cat`);
    expect(removed.status).toBe(200);
    await waitType(cat, 'member.removed', (f) => f.conversationId === id && f.userId === 'cat');
    const after = await send(ann, id, 'cat is gone');
    await ann.waitFor((f) => f.type === 'message.created' && f.message.id === after.message.id);
    expect(cat.frames.some((f) => f.type === 'message.created' && f.message.id === after.message.id)).toBe(false);
    await expect(send(cat, id, 'let me back')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect((await api(a, token.cat!, 'GET', `/v1/conversations/${id}/messages`)).body.code).toBe('FORBIDDEN');
  });

  it('enforces roles: members cannot manage, admins cannot change roles, the last owner cannot leave', async () => {
    const id = await group('ann', ['ben', 'cat']);
    expect((await api(a, token.ben!, 'POST', `/v1/conversations/${id}/members`, { userIds: ['dan'] })).body.code).toBe('FORBIDDEN');
    expect((await api(a, token.ann!, 'PUT', `/v1/conversations/${id}/members/ben/role`, { role: 'admin' })).status).toBe(200);
    expect((await api(a, token.ben!, 'POST', `/v1/conversations/${id}/members`, { userIds: ['dan'] })).status).toBe(200);
    expect((await api(a, token.ben!, 'PUT', `/v1/conversations/${id}/members/cat/role`, { role: 'admin' })).body.code).toBe('FORBIDDEN');
    expect((await api(a, token.ben!, 'DELETE', `/v1/conversations/${id}/members/ann`)).body.code).toBe('FORBIDDEN');
    expect((await api(a, token.ann!, 'POST', `/v1/conversations/${id}/leave`)).body.code).toBe('CONFLICT');
    expect((await api(a, token.dan!, 'POST', `/v1/conversations/${id}/leave`)).status).toBe(200);
    expect((await api(a, token.ben!, 'DELETE', `/v1/conversations/${id}`)).body.code).toBe('FORBIDDEN');
    expect((await api(a, token.ann!, 'PATCH', `/v1/conversations/${id}`, { title: 'renamed' })).status).toBe(200);
    const direct = (await api(a, token.ann!, 'POST', '/v1/conversations/direct', { userId: 'eve' })).body.id;
    expect((await api(a, token.ann!, 'POST', `/v1/conversations/${direct}/members`, { userIds: ['dan'] })).body.code).toBe('CONFLICT');
    const again = await api(a, token.eve!, 'POST', '/v1/conversations/direct', { userId: 'ann' });
    expect([again.status, again.body.id]).toEqual([200, direct]);
  });

  it('public groups are listed and joinable; a system admin moderates any conversation', async () => {
    const id = (await api(a, token.ann!, 'POST', '/v1/conversations', { title: 'lobby', memberIds: [], isPublic: true })).body.id;
    const listed = await api(a, token.eve!, 'GET', '/v1/conversations/public');
    expect(listed.body.conversations).toContainEqual(expect.objectContaining({ id, joined: false }));
    expect((await api(b, token.eve!, 'POST', `/v1/conversations/${id}/join`)).body.seqs).toHaveLength(1);
    const eve = await live(a, 'eve');
    const rude = await send(eve, id, 'spam');
    const staff = await live(b, 'staff');
    await staff.request({ type: 'message.delete', conversationId: id, messageId: rude.message.id });
    const [row] = await db.sql`select body, deleted_at from messages where id = ${rude.message.id}`;
    expect(row!.body).toBeNull();
    expect(row!.deleted_at).not.toBeNull();
    const closed = await group('ben', ['cat']);
    expect((await api(a, token.eve!, 'POST', `/v1/conversations/${closed}/join`)).body.code).toBe('FORBIDDEN');
  });
});

describe('receipts, typing and presence', () => {
  it('read marks reach the other members and the reader’s other tabs; unread counts follow', async () => {
    const id = await group('ann', ['ben']);
    const ann = await live(a, 'ann');
    const benTab1 = await live(a, 'ben');
    const benTab2 = await live(b, 'ben');
    let last = 0;
    for (let i = 0; i < 3; i++) last = (await send(ann, id, `m${i}`)).message.seq;
    const unread = await api(b, token.ben!, 'GET', `/v1/conversations/${id}`);
    expect(unread.body.unreadCount).toBe(3);

    const delivered = await benTab1.request({ type: 'delivered.mark', conversationId: id, upTo: last });
    expect(delivered.seq).toBeGreaterThan(last);
    await waitType(ann, 'delivered', (f) => f.userId === 'ben' && f.upTo === last);
    await benTab1.request({ type: 'read.mark', conversationId: id, upTo: last });
    for (const client of [ann, benTab2]) await waitType(client, 'read', (f) => f.userId === 'ben' && f.upTo === last);
    expect((await api(a, token.ben!, 'GET', `/v1/conversations/${id}`)).body.unreadCount).toBe(0);
    // Marks never move backwards.
    expect((await benTab2.request({ type: 'read.mark', conversationId: id, upTo: 1 })).seq).toBeNull();
    // Muted conversations leave the total.
    await send(ann, id, 'one more');
    const before = (await api(a, token.ben!, 'GET', '/v1/conversations')).body.totalUnread;
    await api(a, token.ben!, 'PUT', `/v1/conversations/${id}/mute`, { muted: true });
    await waitType(benTab2, 'membership.settings', (f) => f.conversationId === id && f.muted === true);
    expect((await api(a, token.ben!, 'GET', '/v1/conversations')).body.totalUnread).toBe(before - 1);
  });

  it('typing goes to the other members only, never back to the typist, and is debounced', async () => {
    const id = await group('ann', ['ben']);
    const annTab1 = await live(a, 'ann');
    const annTab2 = await live(b, 'ann');
    const ben = await live(b, 'ben');
    const cat = await live(b, 'cat');
    expect(await annTab1.request({ type: 'typing.start', conversationId: id })).toEqual({ forwarded: true });
    expect(await annTab1.request({ type: 'typing.start', conversationId: id })).toEqual({ forwarded: false });
    await waitType(ben, 'typing', (f) => f.userId === 'ann' && f.state === 'start' && f.expiresInMs === 5000);
    await annTab1.request({ type: 'typing.stop', conversationId: id });
    await waitType(ben, 'typing', (f) => f.userId === 'ann' && f.state === 'stop');
    await annTab2.request({ type: 'ping' });
    expect(annTab2.frames.some((f) => f.type === 'typing')).toBe(false);
    expect(cat.frames.some((f) => f.type === 'typing')).toBe(false);
    await expect(cat.request({ type: 'typing.start', conversationId: id })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const [{ count }] = await db.sql<[{ count: number }]>`select count(*)::int from events where type like 'typing%'`;
    expect(count).toBe(0);
  });

  it('presence: online and offline across instances, only to people sharing a conversation, and expiry of a dead instance', async () => {
    // Users no other test connects, so their presence starts offline.
    const id = await group('fay', ['gus']);
    const fay = await live(a, 'fay');
    const outsider = await live(a, 'ivy');
    const gusTab1 = await live(b, 'gus');
    await waitType(fay, 'presence', (f) => f.userId === 'gus' && f.online === true && f.conversationId === id);
    const gusTab2 = await live(a, 'gus');
    await gusTab1.close();
    expect((await api(a, token.fay!, 'GET', `/v1/conversations/${id}`)).body.members).toContainEqual(expect.objectContaining({ userId: 'gus', online: true }));
    await gusTab2.close();
    const offline = await waitType(fay, 'presence', (f) => f.userId === 'gus' && f.online === false);
    expect(Date.parse(offline.lastSeenAt)).toBeGreaterThan(0);
    expect(fay.frames.filter((f) => f.type === 'presence' && f.userId === 'gus' && f.online === true)).toHaveLength(1);
    expect(outsider.frames.some((f) => f.type === 'presence')).toBe(false);

    // An instance that died without cleaning up: its row expires and a live instance announces it.
    const watched = await group('fay', ['hal']);
    const fay2 = await live(b, 'fay');
    await db.sql`insert into presence_sessions (instance_id, user_id, expires_at) values ('dead-instance', 'hal', now() + interval '1 second')`;
    expect((await api(a, token.fay!, 'GET', `/v1/conversations/${watched}`)).body.members).toContainEqual(expect.objectContaining({ userId: 'hal', online: true }));
    await waitType(fay2, 'presence', (f) => f.userId === 'hal' && f.online === false && f.conversationId === watched);
    expect((await api(a, token.fay!, 'GET', `/v1/conversations/${watched}`)).body.members).toContainEqual(expect.objectContaining({ userId: 'hal', online: false }));
  });
});

describe('edit, delete, reactions, replies', () => {
  it('edits by the author within the window keep a history; others and late edits are refused', async () => {
    const id = await group('ann', ['ben']);
    const ann = await live(a, 'ann');
    const ben = await live(b, 'ben');
    const sent = await send(ann, id, 'frist');
    const edit = await ann.request({ type: 'message.edit', conversationId: id, messageId: sent.message.id, body: 'first' });
    await waitType(ben, 'message.edited', (f) => f.seq === edit.seq && f.body === 'first');
    await expect(ben.request({ type: 'message.edit', conversationId: id, messageId: sent.message.id, body: 'mine' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const [history] = await db.sql`select previous_body from message_edits where message_id = ${sent.message.id}`;
    expect(history!.previous_body).toBe('frist');

    const strict = await startInstance(db.url, { editWindowSec: 0 });
    const late = await TestClient.live(strict.ws, token.ann!);
    await expect(late.request({ type: 'message.edit', conversationId: id, messageId: sent.message.id, body: 'too late' })).rejects.toMatchObject({ code: 'EDIT_WINDOW_CLOSED' });
    await late.close();
    await strict.close();
  });

  it('deletes leave a tombstone and erase every copy of the text; members cannot delete others’ messages', async () => {
    const id = await group('ann', ['ben']);
    const ann = await live(a, 'ann');
    const ben = await live(b, 'ben');
    const sent = await send(ann, id, 'secret plan');
    await ann.request({ type: 'message.edit', conversationId: id, messageId: sent.message.id, body: 'secret plan v2' });
    await expect(ben.request({ type: 'message.delete', conversationId: id, messageId: sent.message.id })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const del = await ann.request({ type: 'message.delete', conversationId: id, messageId: sent.message.id });
    await waitType(ben, 'message.deleted', (f) => f.seq === del.seq && f.messageId === sent.message.id);
    const leftovers = await db.sql`
      select 1 from messages where body like '%secret%' union all
      select 1 from message_edits where previous_body like '%secret%' union all
      select 1 from events where data::text like '%secret%'`;
    expect(leftovers).toHaveLength(0);
    const page = await api(a, token.ben!, 'GET', `/v1/conversations/${id}/messages`);
    expect(page.body.messages.find((m: { id: string }) => m.id === sent.message.id)).toMatchObject({ body: null, deletedAt: expect.any(String) });
  });

  it('reactions are unique per user and emoji, counted, and live', async () => {
    const id = await group('ann', ['ben', 'cat']);
    const ann = await live(a, 'ann');
    const ben = await live(b, 'ben');
    const sent = await send(ann, id, 'react to me');
    const first = await ben.request({ type: 'reaction.add', conversationId: id, messageId: sent.message.id, emoji: '👍' });
    expect(first.seq).not.toBeNull();
    expect((await ben.request({ type: 'reaction.add', conversationId: id, messageId: sent.message.id, emoji: '👍' })).seq).toBeNull();
    await api(a, token.cat!, 'PUT', `/v1/conversations/${id}/messages/${sent.message.id}/reactions/${encodeURIComponent('👍')}`);
    await waitType(ann, 'reaction.added', (f) => f.userId === 'cat' && f.emoji === '👍');
    const page = await api(a, token.ann!, 'GET', `/v1/conversations/${id}/messages`);
    expect(page.body.messages.at(-1).reactions).toEqual([{ emoji: '👍', count: 2, userIds: ['ben', 'cat'] }]);
    await ben.request({ type: 'reaction.remove', conversationId: id, messageId: sent.message.id, emoji: '👍' });
    await waitType(ann, 'reaction.removed', (f) => f.userId === 'ben');
    await expect(ben.request({ type: 'reaction.add', conversationId: id, messageId: sent.message.id, emoji: 'two words' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('replies carry a preview of their parent', async () => {
    const id = await group('ann', ['ben']);
    const ann = await live(a, 'ann');
    const parent = await send(ann, id, 'what time?');
    const reply = await send(ann, id, 'noon', { replyToId: parent.message.id });
    expect(reply.message.replyTo).toEqual({ id: parent.message.id, senderId: 'ann', preview: 'what time?' });
    const page = await api(b, token.ben!, 'GET', `/v1/conversations/${id}/messages`);
    expect(page.body.messages.at(-1).replyTo.preview).toBe('what time?');
  });
});

describe('resume converges', () => {
  it('a client that missed a burst of mixed events ends in the same state as one that never left', async () => {
    const id = await group('ann', ['ben', 'cat']);
    const ann = await live(a, 'ann');
    const steady = await live(b, 'ben', { [id]: 0 });
    const flaky = await live(a, 'ben', { [id]: 0 });
    const seed = await send(ann, id, 'before');
    await flaky.waitFor((f) => f.type === 'message.created' && f.message.id === seed.message.id);
    const lastSeen = Math.max(...flaky.frames.filter((f) => f.conversationId === id && typeof f.seq === 'number').map((f) => f.seq));
    await flaky.close();

    const m1 = await send(ann, id, 'one');
    const m2 = await send(ann, id, 'two', { replyToId: m1.message.id });
    await ann.request({ type: 'message.edit', conversationId: id, messageId: m1.message.id, body: 'one!' });
    await ann.request({ type: 'reaction.add', conversationId: id, messageId: m2.message.id, emoji: '🎉' });
    await ann.request({ type: 'reaction.add', conversationId: id, messageId: seed.message.id, emoji: '👀' });
    await ann.request({ type: 'message.delete', conversationId: id, messageId: seed.message.id });
    await api(a, token.ann!, 'POST', `/v1/conversations/${id}/members`, { userIds: ['dan'] });
    await api(a, token.ann!, 'PUT', `/v1/conversations/${id}/members/cat/role`, { role: 'admin' });
    await api(a, token.ann!, 'DELETE', `/v1/conversations/${id}/members/dan`);
    await ann.request({ type: 'read.mark', conversationId: id, upTo: m2.message.seq });
    await api(b, token.ann!, 'PATCH', `/v1/conversations/${id}`, { title: 'after the burst' });
    const final = await send(ann, id, 'last');

    const back = await live(b, 'ben', { [id]: lastSeen });
    const steadyState = emptyState();
    const resumedState = emptyState();
    await eventually(() => steady.frames.some((f) => f.type === 'message.created' && f.message.id === final.message.id));
    await eventually(() => back.frames.some((f) => f.type === 'message.created' && f.message.id === final.message.id));
    for (const f of steady.frames.filter((f) => f.conversationId === id)) apply(steadyState, f);
    // The resumed client starts from what it had, then applies exactly the missed events.
    const had = flaky.frames.filter((f) => f.conversationId === id);
    for (const f of had) apply(resumedState, f);
    for (const f of back.frames.filter((f) => f.conversationId === id)) apply(resumedState, f);
    expect(resumedState).toEqual(steadyState);
    expect(steadyState.title).toBe('after the burst');
    expect(steadyState.messages.get(seed.message.id)).toMatchObject({ deleted: true, body: null });
    expect(steadyState.messages.get(m1.message.id)?.body).toBe('one!');
  });
});
