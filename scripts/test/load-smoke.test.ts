/**
 * Every scenario of the load CLI, tiny and short, against an in-process cluster (two
 * instances built with buildApp on a real PostgreSQL): the reports have their shape and
 * our driver sees no loss, duplicate or ordering violation.
 */
import { buildApp, createLogger, type ChatApp } from '@chat/service';
import { loadConfig } from '@chat/service/config';
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { defaults, type RunOptions, type Scenario } from '../src/load/options.ts';
import { runScenario, type Report } from '../src/load/run.ts';
import { assertLoopbackUrl } from '../src/load/common.ts';
import { parseCreated } from '../src/load/drivers/ours.ts';
import '@chat/test-support/provided-context';

const SECRET = 'load-smoke-secret-0123456789abcdef0123456789';

interface Instance {
  chat: ChatApp;
  ws: string;
}

let databaseUrl = '';
let dropDatabase: () => Promise<void> = async () => {};
const instances: Instance[] = [];

async function startInstance(): Promise<Instance> {
  const config = loadConfig(
    {
      AUTH_SECRET: SECRET,
      LOG_LEVEL: 'warn',
      SEND_RATE_PER_SEC: '100000',
      SEND_BURST: '100000',
      DB_WORK_PER_SEC: '10000000',
      DB_WORK_BURST: '10000000',
      MAX_CONNECTIONS_PER_USER: '10000',
      CONNECTS_PER_IP_PER_MIN: '10000000',
      HTTP_RATE_PER_MIN: '10000000',
    },
    { databaseUrl, host: '127.0.0.1', port: 0 },
  );
  const chat = await buildApp(config, createLogger(config));
  const address = await chat.app.listen({ host: '127.0.0.1', port: 0 });
  const instance = { chat, ws: `${address.replace(/^http/, 'ws')}/ws` };
  instances.push(instance);
  return instance;
}

/** An instance dying hard: its sockets drop without a close handshake, then it stops. */
async function crash(instance: Instance): Promise<void> {
  for (const connection of [...instance.chat.gateway.registry.all()]) connection.socket.terminate();
  await instance.chat.app.close();
}

function options(scenario: Scenario, targets: string[], overrides: Partial<RunOptions> = {}): RunOptions {
  return { ...defaults(scenario), targets, clients: 20, durationSec: 2, quiet: true, outDir: null, secret: SECRET, drainMs: 5000, ...overrides };
}

function expectClean(report: Report): void {
  const r = report.result as Record<string, any>;
  expect(r.acked).toBeGreaterThan(0);
  expect(r.sendErrors).toEqual({});
  expect(r.losses).toBe(0);
  expect(r.duplicates).toBe(0);
  expect(r.orderingViolations).toBe(0);
  expect(r.seqGaps).toBe(0);
  expect(r.deliveries).toBe(r.expectedDeliveries);
  expect(r.sendAckMs).toMatchObject({ count: expect.any(Number), p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) });
  expect(r.sendReceiveMs.count).toBeGreaterThan(0);
  expect(report.problems).toEqual([]);
  expect(report.generator).toMatchObject({ eventLoopLagMs: { p99: expect.any(Number) }, cpuPercentOfOneCore: { mean: expect.any(Number) }, saturated: expect.any(Boolean) });
  expect(report.table.length).toBeGreaterThan(0);
}

beforeAll(async () => {
  const adminUrl = inject('adminUrl');
  const name = `load_smoke_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name} template ${inject('templateDatabase')}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  databaseUrl = url.toString();
  dropDatabase = async () => {
    const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
    // The closed instances' last connections go first: a forced drop under a connection that is
    // still starting kills its type lookup, which postgres.js then reports as an unhandled rejection.
    for (let waited = 0; waited < 10_000; waited += 100) {
      const [row] = await a<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = ${name}`;
      if (row!.n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await a.unsafe(`drop database if exists ${name} with (force)`);
    await a.end();
  };
  await startInstance();
  await startInstance();
});

afterAll(async () => {
  for (const instance of instances) await instance.chat.app.close().catch(() => {});
  await dropDatabase();
});

const targets = () => instances.slice(0, 2).map((i) => i.ws);

describe('load CLI scenarios (driver ours)', () => {
  it('refuses targets that are not loopback', () => {
    expect(() => assertLoopbackUrl('ws://10.0.0.1:4000/ws')).toThrow(/loopback/);
    expect(() => assertLoopbackUrl('ws://example.com/ws')).toThrow(/loopback/);
    expect(assertLoopbackUrl('ws://[::1]:4000/ws').hostname).toBe('[::1]');
    expect(assertLoopbackUrl('ws://localhost:4000/ws').hostname).toBe('localhost');
  });

  it('reads message.created frames the fast way exactly as JSON.parse does', () => {
    const message = { id: randomUUID(), conversationId: randomUUID(), seq: 7, senderId: 'u-1', clientMsgId: '3.9', body: 't123.456', replyToId: null, attachments: [], createdAt: new Date().toISOString(), editedAt: null, deletedAt: null };
    const frame = JSON.stringify({ type: 'message.created', conversationId: message.conversationId, seq: 7, message });
    expect(parseCreated(frame)).toEqual({ conversationId: message.conversationId, seq: 7, senderId: 'u-1', clientMsgId: '3.9', body: 't123.456' });
    const escaped = JSON.stringify({ type: 'message.created', conversationId: message.conversationId, seq: 8, message: { ...message, seq: 8, body: 'say "hi"' } });
    expect(parseCreated(escaped)?.body).toBe('say "hi"');
  });

  it('connect-storm', async () => {
    const report = await runScenario(options('connect-storm', targets()));
    const r = report.result as Record<string, any>;
    expect(r.connected).toBe(20);
    expect(r.failed).toBe(0);
    expect(r.connectsPerSec).toBeGreaterThan(0);
    expect(r.connectLatencyMs.count).toBe(20);
    expect(r.connectLatencyMs.p99).toBeGreaterThanOrEqual(r.connectLatencyMs.p50);
  });

  it('idle', async () => {
    const report = await runScenario(options('idle', targets(), { holdSec: 1 }));
    const r = report.result as Record<string, any>;
    expect(r.connected).toBe(20);
    expect(r.stillOpenAfterHold).toBe(20);
    expect(r.perTarget).toHaveLength(2);
    expect(r.perTarget[0]).toMatchObject({ connections: 10, rssBeforeBytes: expect.any(Number), rssAfterBytes: expect.any(Number) });
    expect(typeof r.bytesPerConnection).toBe('number');
  });

  it('fanout at a fixed rate', async () => {
    const report = await runScenario(options('fanout', targets(), { roomSize: 5, rate: 100 }));
    expectClean(report);
    const r = report.result as Record<string, any>;
    expect(r.conversations).toBe(4);
    expect(r.sendsPerSec).toBeGreaterThan(50);
  });

  it('fanout ramp', async () => {
    const report = await runScenario(options('fanout', targets(), { roomSize: 5, ramp: true, rampStart: 50, rampStep: 50, stepSec: 2, durationSec: 4 }));
    expectClean(report);
    const ramp = (report.result as Record<string, any>).ramp;
    expect(ramp.steps.length).toBeGreaterThanOrEqual(1);
    expect(ramp.steps[0]).toMatchObject({ rate: 50, ok: expect.any(Boolean), 'recv p99': expect.any(Number) });
    expect(ramp).toHaveProperty('maxRateUnderTarget');
  });

  it('dm, set up straight in the database', async () => {
    const report = await runScenario(options('dm', targets(), { rate: 60, setup: 'db', databaseUrl }));
    expectClean(report);
    expect((report.result as Record<string, any>).conversations).toBe(10);
  });

  it('history', async () => {
    const report = await runScenario(options('history', targets(), { historyMessages: 120, historyConnections: 4 }));
    const r = report.result as Record<string, any>;
    expect(r.requests).toBeGreaterThan(0);
    expect(r.errors).toBe(0);
    expect(Object.keys(r.statuses)).toEqual(['200']);
    expect(r.latencyMs.p99).toBeGreaterThan(0);
    expect(r.lastSeq).toBeGreaterThanOrEqual(120); // creating the conversation takes seqs too (member events)
  });

  it('resume-storm: the clients of a crashed instance catch up elsewhere, nothing lost or repeated', async () => {
    const victim = await startInstance();
    const report = await runScenario(
      options('resume-storm', [victim.ws, instances[1]!.ws], { roomSize: 5, rate: 80, durationSec: 4, killAfterSec: 1, kill: () => crash(victim), databaseUrl }),
    );
    expectClean(report);
    const r = report.result as Record<string, any>;
    expect(r.storm.clientsOnVictim).toBe(10);
    expect(r.storm.caughtUp).toBe(10);
    expect(r.storm.allCaughtUpMs).toBeGreaterThan(0);
    expect(r.storm.conversationsBehindAtResumeAck).toBe(0);
    expect(r.database.xactCommitDelta).toBeGreaterThan(0);
  });
});
