/**
 * Web Push end to end (issue 15): real instances on a real PostgreSQL, the real job queue
 * (graphile-worker) and a push service on loopback that verifies VAPID and decrypts every
 * notification as a browser would (test/support/push-service.ts).
 */
import type { PushConfig } from '@chat/service/config';
import { loadConfig } from '@chat/service/config';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';
import { checkEndpoint } from '../src/push/subscription-input.ts';
import { spawnInstance, stopAllInstances } from './reliability/support/child.ts';
import { PushService, type Device } from './support/push-service.ts';

let db: TestDatabase;
let a: Instance;
let b: Instance;
let service: PushService;
let push: PushConfig;
const token: Record<string, string> = {};
const clients: TestClient[] = [];
const vapid = webpush.generateVAPIDKeys();

beforeAll(async () => {
  db = await createTestDatabase();
  service = await PushService.start(vapid.publicKey);
  push = {
    vapidPublicKey: vapid.publicKey,
    vapidPrivateKey: vapid.privateKey,
    vapidSubject: 'mailto:ops@shop.example',
    delayMs: 800,
    ttlSec: 120,
    endpointHosts: ['fcm.googleapis.com'],
    allowLoopbackHttp: true,
    concurrency: 2,
  };
  const options = { push, presenceHeartbeatMs: 100, presenceTtlSec: 2 };
  [a, b] = await Promise.all([startInstance(db.url, options), startInstance(db.url, options)]);
  for (const user of ['ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'gus', 'hal']) {
    token[user] = await mintV4({ sub: user, name: user.toUpperCase() });
    expect((await api(a, token[user]!, 'GET', '/v1/me')).status).toBe(200);
  }
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([a?.close(), b?.close()]);
  await stopAllInstances();
  await service?.stop();
  await db?.drop();
});

async function subscribe(user: string, instance: Instance = a): Promise<{ device: Device; id: string }> {
  const device = service.device();
  const created = await api(instance, token[user]!, 'POST', '/v1/push/subscriptions', { ...device.subscription, label: `${user}'s browser` });
  expect(created.status).toBe(201);
  return { device, id: created.body.id };
}

async function direct(from: string, to: string): Promise<string> {
  const created = await api(a, token[from]!, 'POST', '/v1/conversations/direct', { userId: to });
  expect([200, 201]).toContain(created.status);
  return created.body.id;
}

async function send(from: string, conversationId: string, body: string, instance: Instance = a) {
  const sent = await api(instance, token[from]!, 'POST', `/v1/conversations/${conversationId}/messages`, { clientMsgId: `${body}-${Math.random()}`, body });
  expect(sent.status).toBe(201);
  return sent.body.message as { id: string; seq: number };
}

/** Push jobs still queued or running (graphile-worker's public view). */
async function pendingJobs(): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from graphile_worker.jobs where task_identifier = 'push.notify'`;
  return row!.n;
}

const drained = () => eventually(async () => (await pendingJobs()) === 0, 'the push queue to drain', 20_000);

describe('Web Push', () => {
  it('an offline member gets one notification that collapses several messages', async () => {
    const { device } = await subscribe('ben');
    const id = await direct('ann', 'ben');
    await send('ann', id, 'first');
    await send('ann', id, 'second');
    const last = await send('ann', id, 'third: the secret text');
    await eventually(() => service.notifications(device).length > 0, 'a notification');
    await drained();
    const note = service.notifications(device)[0];
    expect(service.notifications(device)).toHaveLength(1);
    expect(note!.payload).toEqual({
      type: 'message',
      conversationId: id,
      seq: last.seq,
      title: 'ANN',
      body: '3 new messages, the latest from ANN',
      count: 3,
      url: `/messages/${id}`,
      tag: `conversation:${id}`,
    });
    // Privacy by default: the text never left the service. One Topic per conversation.
    expect(JSON.stringify(note!.payload)).not.toContain('secret');
    expect(note!.headers).toMatchObject({ ttl: '120', topic: id.replaceAll('-', ''), urgency: 'normal' });
    expect(service.problems).toEqual([]);
  });

  it('shows the text only with the message preview, and notifies again only for new messages', async () => {
    const { device } = await subscribe('fay');
    const id = await direct('eve', 'fay');
    expect((await api(a, token.fay!, 'PATCH', '/v1/push/settings', { preview: 'message' })).body).toEqual({ enabled: true, preview: 'message' });
    await send('eve', id, 'are you there?');
    await eventually(() => service.notifications(device).length === 1, 'the first notification');
    await send('eve', id, 'hello again', b);
    await eventually(() => service.notifications(device).length === 2, 'the second notification');
    await drained();
    expect(service.notifications(device).map((n) => [n.payload.body, n.payload.count])).toEqual([
      ['are you there?', 1],
      ['hello again', 2],
    ]);
    // Reading the conversation: the next job finds nothing unread and sends nothing.
    const seq = service.notifications(device)[1]!.payload.seq;
    expect((await api(a, token.fay!, 'POST', `/v1/conversations/${id}/read`, { upTo: seq })).status).toBeLessThan(300);
  });

  it('an online member, a muted conversation and push turned off get nothing; the offline member gets one', async () => {
    const ben = await subscribe('ben');
    const cat = await subscribe('cat');
    const dan = await subscribe('dan');
    const eve = await subscribe('eve');
    const created = await api(a, token.ann!, 'POST', '/v1/conversations', { title: 'Shop floor', memberIds: ['ben', 'cat', 'dan', 'eve'] });
    const id = created.body.id as string;
    expect((await api(a, token.dan!, 'PUT', `/v1/conversations/${id}/mute`, { muted: true })).status).toBe(200);
    expect((await api(a, token.eve!, 'PATCH', '/v1/push/settings', { enabled: false })).body).toMatchObject({ enabled: false });
    const live = await TestClient.live(b.ws, token.cat!);
    clients.push(live);
    await eventually(async () => (await db.sql`select 1 from presence_sessions where user_id = 'cat' and expires_at > now()`).length > 0, 'cat online');
    const before = service.notifications(ben.device).length;
    await send('ann', id, 'stock count at five');
    await eventually(() => service.notifications(ben.device).length === before + 1, "ben's notification");
    await drained();
    expect(service.notifications(ben.device).at(-1)!.payload).toMatchObject({ conversationId: id, title: 'Shop floor', body: 'New message from ANN', count: 1 });
    expect(service.notifications(cat.device)).toEqual([]);
    expect(service.notifications(dan.device)).toEqual([]);
    expect(service.notifications(eve.device)).toEqual([]);
    await api(a, token.eve!, 'PATCH', '/v1/push/settings', { enabled: true });
  });

  it('410 from the push service removes the subscription', async () => {
    const { device, id: subscriptionId } = await subscribe('dan');
    service.script.set(device.id, [410]);
    const id = await direct('cat', 'dan');
    await send('cat', id, 'are you still there?');
    await eventually(async () => {
      const list = await api(a, token.dan!, 'GET', '/v1/push/subscriptions');
      return !list.body.subscriptions.some((s: { id: string }) => s.id === subscriptionId);
    }, 'the subscription to go');
    expect(service.requests.get(device.id)).toBe(1);
    expect(service.notifications(device)).toEqual([]);
  });

  it('a push service 5xx is retried with back-off, and the device is notified once', async () => {
    const { device } = await subscribe('eve');
    service.script.set(device.id, [503]);
    const id = await direct('ben', 'eve');
    await send('ben', id, 'retry me');
    await eventually(() => service.notifications(device).length === 1, 'the retried notification', 20_000);
    await drained();
    expect(service.requests.get(device.id)).toBe(2);
    expect(service.notifications(device)).toHaveLength(1);
  });

  it('a member removed while their push job waits is not notified', async () => {
    // The sender's instance sets the delay: long enough to remove the member before the job is due.
    const slow = await startInstance(db.url, { push: { ...push, delayMs: 2000 } });
    const { device } = await subscribe('hal');
    try {
      const id = (await api(a, token.ann!, 'POST', '/v1/conversations', { title: 'Quiet exit', memberIds: ['hal'] })).body.id as string;
      await send('ann', id, 'hal, are you there?', slow);
      const key = `push:${id}:hal`;
      const [waiting] = await db.sql<{ due: boolean }[]>`select run_at > now() as due from graphile_worker.jobs where key = ${key}`;
      expect(waiting).toEqual({ due: true });
      expect((await api(a, token.ann!, 'DELETE', `/v1/conversations/${id}/members/hal`)).status).toBe(200);
      // The removal committed while the job still waited for its run time.
      const [still] = await db.sql<{ due: boolean }[]>`select run_at > now() as due from graphile_worker.jobs where key = ${key}`;
      expect(still).toEqual({ due: true });
      await eventually(async () => (await db.sql`select 1 from graphile_worker.jobs where key = ${key}`).length === 0, 'the job to run', 20_000);
      await drained();
      expect(service.requests.get(device.id) ?? 0).toBe(0);
      expect(service.notifications(device)).toEqual([]);
    } finally {
      await slow.close();
    }
  });

  it('a job enqueued by an instance that stops is sent once, by another instance', async () => {
    const slow = await startInstance(db.url, { push: { ...push, delayMs: 1500 } });
    const { device } = await subscribe('gus');
    const id = await direct('fay', 'gus');
    let sent: { seq: number };
    try {
      sent = await send('fay', id, 'from a doomed instance', slow);
      // The job is in the queue, committed with the message; the instance goes away before it is due.
      expect(await pendingJobs()).toBeGreaterThan(0);
    } finally {
      await slow.close();
    }
    await eventually(() => service.notifications(device).length === 1, 'the notification from a surviving instance', 20_000);
    await drained();
    expect(service.notifications(device)).toHaveLength(1);
    expect(service.notifications(device)[0]!.payload.seq).toBe(sent.seq);
  });
});

describe('Web Push after kill -9', () => {
  it('a job whose instance died mid-send is unlocked by another instance and sent once', async () => {
    // A database of its own, so the killed process is the only worker when the job comes due.
    const own = await createTestDatabase();
    let rescuer: Instance | null = null;
    try {
      const child = await spawnInstance('push-k9', own.url, {
        VAPID_PUBLIC_KEY: push.vapidPublicKey,
        VAPID_PRIVATE_KEY: push.vapidPrivateKey,
        VAPID_SUBJECT: push.vapidSubject,
        PUSH_DELAY_MS: '200',
        PUSH_ALLOW_LOOPBACK_HTTP: 'true',
      });
      const at = { http: child.http } as Instance;
      for (const user of ['kim', 'lou']) {
        token[user] = await mintV4({ sub: user, name: user.toUpperCase() });
        expect((await api(at, token[user]!, 'GET', '/v1/me')).status).toBe(200);
      }
      const device = service.device();
      service.hold.add(device.id);
      expect((await api(at, token.lou!, 'POST', '/v1/push/subscriptions', device.subscription)).status).toBe(201);
      const id = (await api(at, token.kim!, 'POST', '/v1/conversations/direct', { userId: 'lou' })).body.id as string;
      const sent = await api(at, token.kim!, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: 'k9-1', body: 'sent before the crash' });
      expect(sent.status).toBe(201);
      // The child's worker has the job and is in the middle of the request: kill it there.
      await eventually(() => service.requests.get(device.id) === 1, 'the send in flight', 20_000);
      child.signal('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
      const [locked] = await own.sql<{ n: number }[]>`select count(*)::int as n from graphile_worker.jobs where locked_by is not null`;
      expect(locked!.n).toBe(1);
      rescuer = await startInstance(own.url, { push });
      await eventually(() => service.notifications(device).length === 1, 'the notification from the rescuer', 20_000);
      await eventually(async () => (await own.sql`select 1 from graphile_worker.jobs`).length === 0, 'the queue to drain', 20_000);
      expect(service.notifications(device)[0]!.payload).toMatchObject({ conversationId: id, seq: sent.body.message.seq, count: 1 });
      expect(service.requests.get(device.id)).toBe(2);
    } finally {
      await rescuer?.close();
      await stopAllInstances();
      await own.drop();
    }
  });
});

describe('/v1/push routes', () => {
  it('gives the VAPID key; an instance without keys says NOT_FOUND', async () => {
    expect((await api(a, token.ann!, 'GET', '/v1/push/vapid-key')).body).toEqual({ publicKey: vapid.publicKey });
    const bare = await startInstance(db.url);
    try {
      const refused = await api(bare, token.ann!, 'GET', '/v1/push/vapid-key');
      expect(refused.status).toBe(404);
      expect(refused.body.code).toBe('NOT_FOUND');
      const subscribing = await api(bare, token.ann!, 'POST', '/v1/push/subscriptions', service.device().subscription);
      expect([subscribing.status, subscribing.body.code]).toEqual([404, 'NOT_FOUND']);
    } finally {
      await bare.close();
    }
  });

  it("a user neither sees nor deletes another's subscription", async () => {
    const { id } = await subscribe('ann');
    const bens = await api(a, token.ben!, 'GET', '/v1/push/subscriptions');
    expect(bens.body.subscriptions.map((s: { id: string }) => s.id)).not.toContain(id);
    const refused = await api(a, token.ben!, 'DELETE', `/v1/push/subscriptions/${id}`);
    expect(refused.status).toBe(404);
    expect(refused.body.code).toBe('NOT_FOUND');
    expect((await api(a, token.ann!, 'GET', '/v1/push/subscriptions')).body.subscriptions.map((s: { id: string }) => s.id)).toContain(id);
    expect((await api(a, token.ann!, 'DELETE', `/v1/push/subscriptions/${id}`)).status).toBe(204);
    expect((await api(a, token.ann!, 'DELETE', `/v1/push/subscriptions/${id}`)).status).toBe(404);
    expect((await api(a, null, 'GET', '/v1/push/subscriptions')).status).toBe(401);
  });

  it('refuses hostile subscriptions with VALIDATION_FAILED', async () => {
    const good = service.device().subscription;
    const offCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 0xff)]).toString('base64url');
    const cases: [string, unknown][] = [
      ['an unknown push host', { ...good, endpoint: 'https://push.attacker.example/x' }],
      ['plain http off loopback', { ...good, endpoint: 'http://fcm.googleapis.com/fcm/send/x' }],
      ['another scheme', { ...good, endpoint: 'file:///etc/passwd' }],
      ['a port', { ...good, endpoint: 'https://fcm.googleapis.com:8443/fcm/send/x' }],
      ['credentials', { ...good, endpoint: 'https://user:pw@fcm.googleapis.com/fcm/send/x' }],
      ['not a URL', { ...good, endpoint: 'not a url' }],
      ['an oversized endpoint', { ...good, endpoint: `https://fcm.googleapis.com/${'x'.repeat(3000)}` }],
      ['an oversized key', { ...good, keys: { ...good.keys, p256dh: 'A'.repeat(5000) } }],
      ['a short key', { ...good, keys: { ...good.keys, p256dh: good.keys.p256dh.slice(0, 40) } }],
      ['a point off the curve', { ...good, keys: { ...good.keys, p256dh: offCurve } }],
      ['a 15-byte auth secret', { ...good, keys: { ...good.keys, auth: Buffer.alloc(15, 1).toString('base64url') } }],
      ['not base64url', { ...good, keys: { ...good.keys, auth: 'a+b/c' } }],
      ['an extra property', { ...good, admin: true }],
      ['no keys', { endpoint: good.endpoint }],
    ];
    for (const [what, body] of cases) {
      const refused = await api(a, token.ann!, 'POST', '/v1/push/subscriptions', body);
      expect([what, refused.status, refused.body.code]).toEqual([what, 400, 'VALIDATION_FAILED']);
    }
    // The real push services' endpoints pass.
    const fcm = await api(a, token.ann!, 'POST', '/v1/push/subscriptions', { ...good, endpoint: 'https://fcm.googleapis.com/fcm/send/abc:def' });
    expect(fcm.status).toBe(201);
    expect((await api(a, token.ann!, 'PATCH', '/v1/push/settings', { preview: 'everything' })).status).toBe(400);
    expect((await api(a, token.ann!, 'PATCH', '/v1/push/settings', {})).status).toBe(400);
  });

  it('loopback http endpoints need the test flag, which production refuses', () => {
    expect(() => checkEndpoint({ ...push, allowLoopbackHttp: false }, 'http://127.0.0.1:9/push/x')).toThrow(/https/);
    expect(checkEndpoint(push, 'http://127.0.0.1:9/push/x')).toBe('http://127.0.0.1:9/push/x');
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_SECRET: 'x'.repeat(32), VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: 'mailto:a@b.example', PUSH_ALLOW_LOOPBACK_HTTP: 'true' })).toThrow(
      /test hook/,
    );
    expect(() => loadConfig({ VAPID_PUBLIC_KEY: vapid.publicKey })).toThrow(/go together/);
  });

  it('charges the route cost: a user past the database budget gets RATE_LIMITED', async () => {
    const tight = await startInstance(db.url, { push, dbWorkPerSec: 1, dbWorkBurst: 4 });
    try {
      const first = await api(tight, token.fay!, 'POST', '/v1/push/subscriptions', service.device().subscription);
      expect(first.status).toBe(201);
      const second = await api(tight, token.fay!, 'POST', '/v1/push/subscriptions', service.device().subscription);
      expect(second.status).toBe(429);
      expect(second.body).toMatchObject({ code: 'RATE_LIMITED', details: { budget: 'db' } });
    } finally {
      await tight.close();
    }
  });
});
