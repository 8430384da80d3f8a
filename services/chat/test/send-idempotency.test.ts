/**
 * Idempotent sends under attack and under contention: a re-sent clientMsgId answers only
 * to a member, only in its own conversation, and a batch retried after a conflict still
 * commits before the batches pipelined behind it (a sender's messages keep their order).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';

let db: TestDatabase;
let a: Instance;
const token: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  // Pipelines the second batch at once (by default it waits for SEND_PIPELINE_AT sends):
  // the order under a retried batch is what this file checks.
  a = await startInstance(db.url, { sendPipelineAt: 1 });
  for (const user of ['ann', 'ben']) {
    token[user] = await mintV4({ sub: user, name: user });
    await api(a, token[user]!, 'GET', '/v1/me');
  }
});

afterAll(async () => {
  await a?.close();
  await db?.drop();
});

const group = async (title: string) => (await api(a, token.ann!, 'POST', '/v1/conversations', { title, memberIds: ['ben'] })).body.id as string;

describe('a re-sent clientMsgId', () => {
  it('from a removed member is FORBIDDEN over HTTP and WebSocket, and shows nothing of the message', async () => {
    const id = await group('removal');
    const original = await api(a, token.ben!, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: 'ben-1', body: 'before removal' });
    expect(original.status).toBe(201);
    const reply = await api(a, token.ann!, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: 'ann-1', body: 'secret v1', replyToId: original.body.message.id });
    const quoting = await api(a, token.ben!, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: 'ben-2', body: 'quoting', replyToId: reply.body.message.id });
    expect(quoting.status).toBe(201);
    expect((await api(a, token.ann!, 'DELETE', `/v1/conversations/${id}/members/ben`)).status).toBe(200);
    await api(a, token.ann!, 'PATCH', `/v1/conversations/${id}/messages/${reply.body.message.id}`, { body: 'secret v2' });

    const again = await api(a, token.ben!, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: 'ben-2', body: 'quoting', replyToId: reply.body.message.id });
    expect(again.status).toBe(403);
    expect(again.body.code).toBe('FORBIDDEN');
    expect(JSON.stringify(again.body)).not.toContain('secret');
    const ben = await TestClient.connect(a.ws, { token: token.ben! });
    await expect(ben.request({ type: 'message.send', conversationId: id, clientMsgId: 'ben-2', body: 'quoting' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(JSON.stringify(ben.frames)).not.toContain('secret');
    await ben.close();
  });

  it('already used in another conversation is a CONFLICT, never that other message', async () => {
    const [first, second] = [await group('first'), await group('second')];
    const sent = await api(a, token.ben!, 'POST', `/v1/conversations/${first}/messages`, { clientMsgId: 'shared-id', body: 'only for first' });
    expect(sent.status).toBe(201);
    const reused = await api(a, token.ben!, 'POST', `/v1/conversations/${second}/messages`, { clientMsgId: 'shared-id', body: 'other' });
    expect([reused.status, reused.body.code]).toEqual([409, 'CONFLICT']);
    expect(JSON.stringify(reused.body)).not.toContain('only for first');
    // The original conversation still answers the retry with the original.
    const retry = await api(a, token.ben!, 'POST', `/v1/conversations/${first}/messages`, { clientMsgId: 'shared-id', body: 'only for first' });
    expect([retry.status, retry.body.duplicate, retry.body.message.id]).toEqual([200, true, sent.body.message.id]);
  });
});

describe('a batch that hits a conflict and is retried', () => {
  it('still commits before the batch pipelined behind it: the sender’s messages keep their order', async () => {
    const [target, elsewhere] = [await group('target'), await group('elsewhere')];
    const ann = await TestClient.live(a.ws, token.ann!);
    const metric = async (name: string) => {
      const line = (await (await fetch(`${a.http}/metrics`)).text()).split('\n').find((l) => l.startsWith(name));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    const writerWaits = () =>
      eventually(async () => {
        const rows = await db.sql`
          select 1 from pg_stat_activity where application_name like '%-send' and wait_event_type = 'Lock' and datname = current_database()`;
        return rows.length > 0;
      }, 'the send statement waiting on a lock');
    const batchesBefore = await metric('chat_send_batch_size_count');
    const send = (clientMsgId: string) => ann.request({ type: 'message.send', conversationId: target, clientMsgId, body: clientMsgId });

    // Another writer holds, uncommitted, a row with the clientMsgId ann is about to use, and
    // (until its savepoint is rolled back) the target conversation's counter.
    const held = await db.sql.reserve();
    await held`begin`;
    await held`insert into messages (conversation_id, seq, sender_id, client_msg_id, body) values (${elsewhere}, 1000000, 'ann', 'clash', 'held')`;
    await held`savepoint counter`;
    await held`select 1 from conversations where id = ${target} for update`;

    const p0 = send('p0'); // batch 1: waits for the counter lock
    await writerWaits();
    const p1 = send('p1'); // batch 2: pipelined behind it
    await eventually(async () => (await metric('chat_send_batch_size_count')) - batchesBefore === 2, 'two batches in flight');
    const clash = send('clash').then(() => null, (error: unknown) => error); // these two wait in the queue ...
    const m1 = send('m1');
    await eventually(async () => (await metric('chat_send_queue')) === 2, 'both queued'); // ... to go together as batch 3
    await held`rollback to savepoint counter`;
    await Promise.all([p0, p1]);
    await writerWaits(); // batch 3 waits on the held row's unique key
    const m2 = send('m2'); // batch 4: pipelined behind batch 3
    await eventually(async () => (await metric('chat_send_batch_size_count')) - batchesBefore === 4, 'batch 4 sent');
    await held`commit`;
    held.release();

    const [first, second] = await Promise.all([m1, m2]);
    expect(first.message.seq).toBeLessThan(second.message.seq);
    expect(await clash).toMatchObject({ code: 'CONFLICT' });
    await ann.close();
  });
});
