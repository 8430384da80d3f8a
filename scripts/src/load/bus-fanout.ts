/**
 * What interest routing saves: the PostgreSQL bus against the NATS bus, side by side in one
 * session, with N instances and the same load.
 *   pnpm bench:bus-fanout --database-url postgres://postgres@127.0.0.1:5432/postgres
 *        [--instances 2,4,8] [--buses pg,nats] [--pairs 200] [--rooms 20] [--rate 200] [--seconds 10]
 *        [--cpu-prof DIR]
 * For each bus and N: a fresh database on that server (dropped at the end), a nats-server of its
 * own for BUS=nats (Debian's /usr/sbin/nats-server, -js, a free port, a temporary store), and N
 * instances as child processes (services/chat/src/server.ts through tsx). Users: `pairs` direct
 * conversations and `rooms` groups of 10, every member with one socket on an instance drawn at
 * random (seeded), so a pair shares an instance with probability 1/N. Load: `rate` sends per
 * second for `seconds` (after a 2-s warm-up), half to random pairs and half to random rooms, each
 * from a random member; with a ladder (`--rate 200,400,800`) one step per rate, stopping after
 * the first step whose recv p99 reaches 50 ms. Reported per bus, N and rate:
 *  - events decoded per instance (chat_bus_events_received_total), and how many of those a local
 *    socket wanted (frames delivered by that instance);
 *  - CPU seconds per instance (process_cpu_seconds_total), and per delivered frame;
 *  - send → receive latency at the other members' sockets, p50/p99.
 * Loopback only.
 */
import { migrate } from '@chat/db';
import { freePort } from '@chat/db/embedded';
import { startNatsServer, type NatsServer } from '@chat/test-support/nats';
import { mintV4, SECRET } from '@chat/test-support/tokens';
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { WebSocket } from 'ws';
import { assertLoopbackUrl, repoRoot, sleep } from './common.ts';

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx/package.json').replace(/package\.json$/, 'dist/loader.mjs')).href;
const SERVER = path.join(repoRoot, 'services/chat/src/server.ts');

const { values } = parseArgs({
  options: {
    'database-url': { type: 'string' },
    instances: { type: 'string', default: '2,4,8' },
    buses: { type: 'string', default: 'pg,nats' },
    pairs: { type: 'string', default: '200' },
    rooms: { type: 'string', default: '20' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    seed: { type: 'string', default: '13' },
    /** Write a V8 CPU profile per instance into this folder (summarise with pnpm profile:top). */
    'cpu-prof': { type: 'string' },
  },
});
const adminUrl = values['database-url'] ?? process.env.DATABASE_URL;
if (!adminUrl) throw new Error('--database-url (a PostgreSQL server where this may create and drop databases) is required');
assertLoopbackUrl(adminUrl);
const counts = values.instances!.split(',').map(Number);
const buses = values.buses!.split(',') as ('pg' | 'nats')[];
const PAIRS = Number(values.pairs);
const ROOMS = Number(values.rooms);
/** One rate, or a ladder (`--rate 200,400,800`): 10-s steps, stopping after the first whose recv p99 is 50 ms or more. */
const RATES = values.rate!.split(',').map(Number);
const P99_LIMIT_MS = 50;
const SECONDS = Number(values.seconds);

/** mulberry32: the same placement of users on instances for both buses. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Instance {
  http: string;
  ws: string;
  child: ChildProcess;
}

async function startInstance(databaseUrl: string, env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const profile = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(values['cpu-prof'])}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', TSX, SERVER], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      AUTH_SECRET: SECRET,
      LOG_LEVEL: 'warn',
      SEND_RATE_PER_SEC: '100000',
      SEND_BURST: '100000',
      DB_WORK_PER_SEC: '10000000',
      DB_WORK_BURST: '10000000',
      GROUP_CREATES_PER_HOUR: '10000000',
      CONNECTS_PER_IP_PER_MIN: '10000000',
      HTTP_RATE_PER_MIN: '10000000',
      DB_POOL_SIZE: '4',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const instance = { http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/ws`, child };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`instance exited during start-up (${child.exitCode})`);
    const status = await fetch(`${instance.http}/readyz`).then((r) => r.status, () => 0);
    if (status === 200) return instance;
    if (Date.now() > deadline) throw new Error('instance not ready within 60 s');
    await sleep(100);
  }
}

async function stopInstance(instance: Instance): Promise<void> {
  if (instance.child.exitCode !== null) return;
  const gone = new Promise((resolve) => instance.child.once('exit', resolve));
  process.kill(instance.child.pid!, 'SIGTERM');
  await gone;
}

async function metricsOf(instance: Instance): Promise<{ cpu: number; decoded: number; framesOut: number; gapFilled: number; relayed: number }> {
  const text = await (await fetch(`${instance.http}/metrics`)).text();
  const read = (name: string) => {
    let total = 0;
    for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === '{' || line[name.length] === ' ')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    return total;
  };
  return {
    cpu: read('process_cpu_seconds_total'),
    decoded: read('chat_bus_events_received_total'),
    framesOut: read('chat_ws_frames_out_total'),
    gapFilled: read('chat_gap_filled_events_total'),
    relayed: read('chat_bus_outbox_relayed_total'),
  };
}

interface Client {
  user: string;
  socket: WebSocket;
  pending: Map<string, (frame: any) => void>;
}

async function openClient(url: string, user: string, latencies: number[], counting: { on: boolean }): Promise<Client> {
  const token = await mintV4({ sub: user, name: user });
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  const client: Client = { user, socket, pending: new Map() };
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data));
    if (frame.type === 'ack' || frame.type === 'error') client.pending.get(frame.id)?.(frame);
    else if (frame.type === 'message.created' && counting.on && frame.message.senderId !== user) {
      const sentAt = Number(frame.message.body.split(' ')[0]);
      if (Number.isFinite(sentAt)) latencies.push(Date.now() - sentAt);
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const ack = await request(client, { type: 'resume', conversations: {} });
  if (ack.type !== 'ack') throw new Error(`resume refused: ${JSON.stringify(ack)}`);
  return client;
}

let ids = 0;
function request(client: Client, frame: Record<string, unknown>): Promise<any> {
  const id = String(++ids);
  return new Promise((resolve) => {
    client.pending.set(id, (reply) => {
      client.pending.delete(id);
      resolve(reply);
    });
    client.socket.send(JSON.stringify({ ...frame, id }));
  });
}

async function api(instance: Instance, user: string, method: string, route: string, body?: unknown): Promise<any> {
  const token = await mintV4({ sub: user, name: user });
  const response = await fetch(`${instance.http}/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status >= 300) throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
  return response.json();
}

const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);

async function runOne(bus: 'pg' | 'nats', n: number): Promise<Record<string, string | number>[]> {
  const admin = postgres(adminUrl!, { max: 1, onnotice: () => {} });
  const name = `bench_bus_${bus}_${n}_${Date.now()}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(adminUrl!);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  let nats: NatsServer | null = null;
  const instances: Instance[] = [];
  const clients: Client[] = [];
  try {
    await migrate(databaseUrl);
    if (bus === 'nats') nats = await startNatsServer();
    const env: Record<string, string> = bus === 'nats' ? { BUS: 'nats', NATS_URL: nats!.url } : {};
    instances.push(...(await Promise.all(Array.from({ length: n }, (_, i) => startInstance(databaseUrl, { ...env, INSTANCE_ID: `bench-${i}` })))));

    const rnd = random(Number(values.seed));
    const on = () => Math.floor(rnd() * n);
    const latencies: number[] = [];
    const counting = { on: false };
    // Conversations: pairs, then rooms of 10; each member gets one socket on a random instance.
    const conversations: { id: string; members: Client[] }[] = [];
    const setup = instances[0]!;
    for (let p = 0; p < PAIRS; p++) {
      const [a, b] = [`p${p}a`, `p${p}b`];
      await api(setup, b, 'GET', '/me');
      const conversation = await api(setup, a, 'POST', '/conversations/direct', { userId: b });
      conversations.push({ id: conversation.id, members: [] });
      for (const user of [a, b]) conversations.at(-1)!.members.push(await openClient(instances[on()]!.ws, user, latencies, counting));
    }
    for (let r = 0; r < ROOMS; r++) {
      const users = Array.from({ length: 10 }, (_, k) => `r${r}m${k}`);
      for (const user of users.slice(1)) await api(setup, user, 'GET', '/me');
      const group = await api(setup, users[0]!, 'POST', '/conversations', { title: `room ${r}`, memberIds: users.slice(1) });
      conversations.push({ id: group.id, members: [] });
      for (const user of users) conversations.at(-1)!.members.push(await openClient(instances[on()]!.ws, user, latencies, counting));
    }
    clients.push(...conversations.flatMap((c) => c.members));

    const send = (k: number) => {
      const conversation = k % 2 === 0 ? conversations[Math.floor(rnd() * PAIRS)]! : conversations[PAIRS + Math.floor(rnd() * ROOMS)]!;
      const from = conversation.members[Math.floor(rnd() * conversation.members.length)]!;
      return request(from, { type: 'message.send', conversationId: conversation.id, clientMsgId: `b${k}`, body: `${Date.now()} bench` });
    };
    const drive = async (seconds: number, offset: number, rate: number) => {
      const started = Date.now();
      const total = Math.round(seconds * rate);
      const inFlight: Promise<unknown>[] = [];
      for (let k = 0; k < total; k++) {
        const due = started + (k * 1000) / rate;
        if (due > Date.now()) await sleep(due - Date.now());
        inFlight.push(send(offset + k));
      }
      await Promise.all(inFlight);
    };
    await drive(2, 0, RATES[0]!); // warm-up
    await sleep(500);
    const rows: Record<string, string | number>[] = [];
    for (const [step, rate] of RATES.entries()) {
      latencies.length = 0;
      const before = await Promise.all(instances.map(metricsOf));
      counting.on = true;
      await drive(SECONDS, (step + 1) * 10_000_000, rate);
      await sleep(1000); // the last deliveries
      counting.on = false;
      const after = await Promise.all(instances.map(metricsOf));
      const per = after.map((end, i) => {
        const start = before[i]!;
        return { cpu: end.cpu - start.cpu, decoded: end.decoded - start.decoded, framesOut: end.framesOut - start.framesOut, gapFilled: end.gapFilled - start.gapFilled, relayed: end.relayed - start.relayed };
      });
      const sum = (f: (x: (typeof per)[number]) => number) => per.reduce((t, x) => t + f(x), 0);
      const sorted = latencies.sort((x, y) => x - y);
      const sends = Math.round(SECONDS * rate);
      const row = {
        bus,
        instances: n,
        'sends/s': rate,
        sends,
        'decoded/instance': Math.round(sum((x) => x.decoded) / n),
        'decoded/send/instance': +(sum((x) => x.decoded) / n / sends).toFixed(2),
        'frames out (fleet)': sum((x) => x.framesOut),
        'cpu s/instance': +(sum((x) => x.cpu) / n).toFixed(2),
        'cpu ms/delivered frame (fleet)': +((sum((x) => x.cpu) * 1000) / Math.max(1, latencies.length)).toFixed(3),
        delivered: latencies.length,
        'gap-filled (fleet)': sum((x) => x.gapFilled),
        'relayed (fleet)': sum((x) => x.relayed),
        'p50 ms': percentile(sorted, 50),
        'p99 ms': percentile(sorted, 99),
      };
      console.log(JSON.stringify(row));
      rows.push(row);
      if (row['p99 ms'] >= P99_LIMIT_MS) break;
    }
    return rows;
  } finally {
    for (const client of clients) client.socket.terminate();
    await Promise.all(instances.map(stopInstance));
    await nats?.stop();
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

const rows: Record<string, string | number>[] = [];
const best: string[] = [];
// Alternate the buses within each N, so both see the same machine state.
for (const n of counts) {
  for (const bus of buses) {
    const steps = await runOne(bus, n);
    rows.push(...steps);
    const ok = steps.filter((r) => Number(r['p99 ms']) < P99_LIMIT_MS).map((r) => Number(r['sends/s']));
    if (RATES.length > 1) best.push(`${bus} N=${n}: highest step with recv p99 < ${P99_LIMIT_MS} ms: ${ok.length ? Math.max(...ok) : 'none'} sends/s`);
  }
}
const headers = Object.keys(rows[0]!);
console.log(`\n| ${headers.join(' | ')} |\n|${headers.map(() => '---').join('|')}|`);
for (const row of rows) console.log(`| ${headers.map((h) => row[h]).join(' | ')} |`);
for (const line of best) console.log(line);
