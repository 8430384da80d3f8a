/**
 * Sends are written and published by SQL (`chat_send_messages`), which builds each
 * message's JSON itself; reads map rows with toMessage(). The two must agree key for
 * key, for any body, reply and attachment: the ack, the live event, the replay and the
 * history page are the same message.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE_COLUMNS, REPLY_PREVIEW_CHARS, toMessage, type MessageRow } from '../src/db/rows.ts';
import { api, createTestDatabase, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';

let db: TestDatabase;
let dir: string;
let a: Instance;
let b: Instance;
let alice: string;
let bob: string;
let group: string;
let counter = 0;

const BODIES = [
  'plain',
  'quotes " and \\ backslashes \\" and a slash /',
  'lines\nand\ttabs\r\n',
  'control \u0001\u001f characters',
  'emoji 😀👍🏽 and combining é',
  'separators \u2028\u2029 and <script>alert(1)</script>',
  'x'.repeat(4000),
];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'chat-json-'));
  db = await createTestDatabase();
  [a, b] = await Promise.all([startInstance(db.url, { attachmentsDir: dir }), startInstance(db.url, { attachmentsDir: dir })]);
  [alice, bob] = await Promise.all([mintV4({ sub: 'alice', name: 'Alice' }), mintV4({ sub: 'bob', name: 'Bob' })]);
  await api(b, bob, 'GET', '/v1/me');
  group = (await api(a, alice, 'POST', '/v1/conversations', { title: 'json', memberIds: ['bob'] })).body.id;
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

async function send(token: string, body: string, extra: Record<string, unknown> = {}) {
  const response = await api(a, token, 'POST', `/v1/conversations/${group}/messages`, { clientMsgId: `json-${++counter}`, body, ...extra });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.message;
}

/** Every message of the conversation, both ways: SQL's JSON and toMessage(row). */
async function bothWays() {
  const rows = await db.sql<(MessageRow & { json: string })[]>`
    select ${db.sql.unsafe(MESSAGE_COLUMNS)},
      chat_message_json(m.id, m.conversation_id, m.seq, m.sender_id, m.client_msg_id, m.body, m.reply_to_id, m.attachments,
        m.created_at, m.edited_at, m.deleted_at, p.sender_id, left(p.body, ${REPLY_PREVIEW_CHARS})) as json
    from messages m left join messages p on p.id = m.reply_to_id
    where m.conversation_id = ${group} order by m.seq`;
  return rows.map((row) => ({ sql: JSON.parse(row.json) as unknown, mapped: toMessage(row) }));
}

describe('message JSON built by SQL', () => {
  it('equals toMessage() for tricky bodies, replies, attachments, edits and deletes', async () => {
    const sent = [];
    for (const body of BODIES) sent.push(await send(alice, body));
    const parent = sent[0];
    sent.push(await send(bob, 'a reply', { replyToId: parent.id }));
    const upload = await fetch(`${a.http}/v1/conversations/${group}/attachments?filename=${encodeURIComponent('ré "port".txt')}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'text/plain' },
      body: 'numbers',
    });
    const ref = (await upload.json()) as { id: string };
    sent.push(await send(alice, '', { attachmentIds: [ref.id] }));
    // A reply whose parent is then deleted (preview null), and an edited message.
    const orphan = await send(alice, 'parent to delete');
    sent.push(orphan);
    const orphanReply = await send(bob, 'reply to a deleted parent', { replyToId: orphan.id });
    sent.push(orphanReply);
    expect((await api(a, alice, 'DELETE', `/v1/conversations/${group}/messages/${orphan.id}`)).status).toBe(200);
    expect((await api(a, alice, 'PATCH', `/v1/conversations/${group}/messages/${sent[1].id}`, { body: 'edited "once"' })).status).toBe(200);

    const both = await bothWays();
    expect(both.length).toBe(sent.length);
    for (const { sql, mapped } of both) expect(sql).toStrictEqual(mapped);
    // What the sender was acked is what history holds (but for the later edit and deletes).
    const history = (await api(a, alice, 'GET', `/v1/conversations/${group}/messages?limit=100`)).body.messages as { id: string }[];
    const untouched = new Set([orphan.id, orphanReply.id, sent[1].id]);
    for (const acked of sent.filter((m) => !untouched.has(m.id))) {
      const { reactions: _, ...stored } = history.find((m) => m.id === acked.id) as { reactions?: unknown };
      expect(acked).toStrictEqual(stored);
    }
  });

  it('the live event a member on another instance receives is the acked message, inline or by reference', async () => {
    const watcher = await TestClient.live(b.ws, bob);
    const acked = await send(alice, 'live "one" \u0001 😀');
    const event = await watcher.waitFor((f) => f.type === 'message.created' && f.message?.id === acked.id);
    expect(event.message).toStrictEqual(acked);
    expect(event.seq).toBe(acked.seq);
    // A frame over the inline limit travels by reference ("<id> <seq> -") and is read back.
    const big = await send(alice, `big ${'é'.repeat(3000)}`);
    const bigEvent = await watcher.waitFor((f) => f.type === 'message.created' && f.message?.id === big.id);
    expect(bigEvent.message).toStrictEqual(big);
    await watcher.close();
  });
});
