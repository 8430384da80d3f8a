/**
 * The trust boundary of a conversation's stream: a socket receives an event only if its
 * user is a member at that event's seq (or the event is their own removal), whatever the
 * order of resumes, adds, removes and sends across two instances.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient, type Frame } from '@chat/test-support/ws-client';

let db: TestDatabase;
let a: Instance;
let b: Instance;
const token: Record<string, string> = {};
const USERS = ['own', 'u1', 'u2', 'u3'];

beforeAll(async () => {
  db = await createTestDatabase();
  [a, b] = await Promise.all([startInstance(db.url), startInstance(db.url)]);
  for (const user of USERS) {
    token[user] = await mintV4({ sub: user, name: user });
    expect((await api(a, token[user]!, 'GET', '/v1/me')).status).toBe(200);
  }
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await db?.drop();
});

async function group(members: string[]): Promise<string> {
  const created = await api(a, token.own!, 'POST', '/v1/conversations', { title: 'private', memberIds: members });
  expect(created.status).toBe(201);
  return created.body.id;
}

/** Fires `count` resume frames without waiting: catch-ups queued and in flight on the socket. */
function pipelineResumes(client: TestClient, count: number, tag: string): string[] {
  const ids = Array.from({ length: count }, (_, i) => `${tag}-${i}`);
  for (const id of ids) client.sendRaw(JSON.stringify({ type: 'resume', id, conversations: {} }));
  return ids;
}

function answered(client: TestClient, ids: string[]): Promise<unknown> {
  return eventually(() => ids.every((id) => client.frames.some((f) => (f.type === 'ack' || f.type === 'error') && f.id === id)), 'answers to every request');
}

/** The user's membership over the conversation's seqs, from the stream stored in the database. */
async function membershipTimeline(conversationId: string): Promise<(user: string, seq: number) => boolean> {
  const rows = await db.sql<{ seq: number; type: string; user_id: string }[]>`
    select seq, type, coalesce(data->'member'->>'userId', data->>'userId') as user_id from events
    where conversation_id = ${conversationId} and type in ('member.added', 'member.removed') order by seq`;
  return (user, seq) => {
    let member = false;
    for (const row of rows) {
      if (row.user_id !== user || row.seq > seq) continue;
      member = row.type === 'member.added' || row.seq === seq; // their own removal is the last event they get
    }
    return member;
  };
}

function streamFrames(client: TestClient, conversationId: string): Frame[] {
  return client.frames.filter((f) => f.conversationId === conversationId && typeof f.seq === 'number' && f.type !== 'ack');
}

function expectWithinMembership(frames: Frame[], user: string, memberAt: (user: string, seq: number) => boolean): void {
  const outside = frames.filter((f) => !memberAt(user, f.seq)).map((f) => `${f.type}@${f.seq}`);
  expect(outside, `${user} received events while not a member`).toEqual([]);
  const seqs = frames.map((f) => f.seq);
  expect(seqs, `${user}: each seq once, in order`).toEqual([...new Set(seqs)].sort((x, y) => x - y));
}

describe('a removed member', () => {
  it('gets nothing after its removal while resumes are queued and in flight, on another instance (8 trials)', async () => {
    for (let trial = 0; trial < 8; trial++) {
      const id = await group(['u1', 'u2']);
      const owner = await TestClient.live(a.ws, token.own!);
      const watcher = await TestClient.live(b.ws, token.u2!);
      const removed = await TestClient.live(b.ws, token.u1!);
      const resumes = pipelineResumes(removed, 30, `t${trial}`);
      const gone = await api(a, token.own!, 'DELETE', `/v1/conversations/${id}/members/u1`);
      expect(gone.status).toBe(200);
      const sent = [];
      for (let i = 0; i < 5; i++) sent.push(await owner.request({ type: 'message.send', conversationId: id, clientMsgId: `t${trial}-m${i}`, body: `after ${i}` }));
      const lastId = sent.at(-1)!.message.id;
      await watcher.waitFor((f) => f.type === 'message.created' && f.message.id === lastId);
      await answered(removed, resumes);

      expect(removed.messages(id).filter((f) => f.seq > gone.body.seq).map((f) => f.seq), 'messages after the removal').toEqual([]);
      expectWithinMembership(streamFrames(removed, id), 'u1', await membershipTimeline(id));
      // Nor can it signal into the group: typing is refused and reaches nobody.
      await expect(removed.request({ type: 'typing.start', conversationId: id })).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await owner.request({ type: 'typing.start', conversationId: id });
      await watcher.waitFor((f) => f.type === 'typing' && f.conversationId === id && f.userId === 'own');
      expect(watcher.frames.some((f) => f.type === 'typing' && f.userId === 'u1')).toBe(false);
      expect(removed.frames.some((f) => f.type === 'typing' && f.conversationId === id)).toBe(false);
      await Promise.all([owner.close(), watcher.close(), removed.close()]);
    }
  });

  it('added and removed at once, with resumes in flight, sees only the events of its membership', async () => {
    for (let trial = 0; trial < 8; trial++) {
      const id = await group(['u2']);
      const owner = await TestClient.live(a.ws, token.own!);
      const watcher = await TestClient.live(b.ws, token.u2!);
      const guest = await TestClient.live(b.ws, token.u3!);
      const resumes = pipelineResumes(guest, 30, `g${trial}`);
      const [added, gone] = [
        await api(a, token.own!, 'POST', `/v1/conversations/${id}/members`, { userIds: ['u3'] }),
        await api(a, token.own!, 'DELETE', `/v1/conversations/${id}/members/u3`),
      ];
      expect([added.status, gone.status]).toEqual([200, 200]);
      const last = await owner.request({ type: 'message.send', conversationId: id, clientMsgId: `g${trial}-after`, body: 'after' });
      await watcher.waitFor((f) => f.type === 'message.created' && f.message.id === last.message.id);
      await answered(guest, resumes);
      expectWithinMembership(streamFrames(guest, id), 'u3', await membershipTimeline(id));
      expect(guest.messages(id)).toEqual([]);
      await Promise.all([owner.close(), watcher.close(), guest.close()]);
    }
  });
});

type Command =
  | { kind: 'resumes'; user: string; count: number }
  | { kind: 'add'; user: string; wait: boolean }
  | { kind: 'remove'; user: string; wait: boolean }
  | { kind: 'send'; wait: boolean }
  | { kind: 'leave'; user: string };

const member = fc.constantFrom('u1', 'u2', 'u3');
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('resumes' as const), user: member, count: fc.integer({ min: 5, max: 30 }) }),
  fc.record({ kind: fc.constant('add' as const), user: member, wait: fc.boolean() }),
  fc.record({ kind: fc.constant('remove' as const), user: member, wait: fc.boolean() }),
  fc.record({ kind: fc.constant('send' as const), wait: fc.boolean() }),
  fc.record({ kind: fc.constant('leave' as const), user: member }),
);

describe('property: delivery follows membership at each seq', () => {
  it('holds for random interleavings of resumes, adds, removes, leaves and sends across two instances', async () => {
    let trial = 0;
    await fc.assert(
      fc.asyncProperty(fc.subarray(['u1', 'u2', 'u3']), fc.array(command, { minLength: 4, maxLength: 16 }), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), async (initial, commands, onA) => {
        const tag = `p${trial++}`;
        const id = await group(initial);
        const ownerA = await TestClient.live(a.ws, token.own!);
        const ownerB = await TestClient.live(b.ws, token.own!);
        const sockets = new Map<string, TestClient>();
        for (const [i, user] of ['u1', 'u2', 'u3'].entries()) sockets.set(user, await TestClient.live(onA[i] ? a.ws : b.ws, token[user]!));
        const inFlight: Promise<unknown>[] = [];
        const requests = new Map<TestClient, string[]>();
        let n = 0;
        for (const c of commands) {
          const step = (() => {
            switch (c.kind) {
              case 'resumes': {
                const socket = sockets.get(c.user)!;
                requests.set(socket, [...(requests.get(socket) ?? []), ...pipelineResumes(socket, c.count, `${tag}-${n++}`)]);
                return null;
              }
              case 'add':
                return { wait: c.wait, run: api(a, token.own!, 'POST', `/v1/conversations/${id}/members`, { userIds: [c.user] }) };
              case 'remove':
                return { wait: c.wait, run: api(b, token.own!, 'DELETE', `/v1/conversations/${id}/members/${c.user}`) };
              case 'leave':
                return { wait: true, run: api(b, token[c.user]!, 'POST', `/v1/conversations/${id}/leave`) };
              case 'send':
                return { wait: c.wait, run: api(a, token.own!, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: `${tag}-s${n++}`, body: 'x' }) };
            }
          })();
          if (step?.wait) await step.run;
          else if (step) inFlight.push(step.run);
        }
        await Promise.all(inFlight);
        for (const [socket, ids] of requests) await answered(socket, ids);
        // A barrier: once the owner's sockets on both instances have the last event, so
        // has every other socket of those instances that was going to get it.
        const marker = await api(a, token.own!, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: `${tag}-end`, body: 'end' });
        for (const owner of [ownerA, ownerB]) await owner.waitFor((f) => f.type === 'message.created' && f.message.id === marker.body.message.id);

        const memberAt = await membershipTimeline(id);
        for (const [user, socket] of sockets) expectWithinMembership(streamFrames(socket, id), user, memberAt);
        await Promise.all([ownerA, ownerB, ...sockets.values()].map((s) => s.close()));
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});
