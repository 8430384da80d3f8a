/**
 * pnpm bench:ws-writes — the server's CPU per outgoing frame, with the service's own
 * Connection.sendRaw gathering a tick's frames into one write (corked) against one write per
 * frame (uncorked: a Connection without its TCP socket), for K frames per socket per tick.
 *   pnpm bench:ws-writes [--sockets 200] [--frames 600000] [--rounds 3] [--per-tick 1,2,4]
 * The server runs in a child process (its CPU is read with process.cpuUsage() from the
 * first frame until the clients have read the last), the clients in this one. Rounds
 * alternate uncorked and corked; medians over rounds go to stdout. Loopback only; bounded.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';

/** A typical message.created frame (~430 bytes, as the service sends it). */
const FRAME = JSON.stringify({
  type: 'message.created',
  conversationId: 'aec84eab-dcc6-4e75-91eb-8d9d71354261',
  seq: 9,
  message: {
    id: '16f930d6-c3c4-4c7d-a73a-56911e0ac692',
    conversationId: 'aec84eab-dcc6-4e75-91eb-8d9d71354261',
    seq: 9,
    senderId: 'shopper-1842',
    clientMsgId: '0b7d3c1e-2a0f-4a57-9d5c-6f1f0f3b8a11',
    body: 'Is this jacket still available in a medium? I would like to order it today.',
    replyToId: null,
    attachments: [],
    createdAt: '2026-11-23T13:08:51.421Z',
    editedAt: null,
    deletedAt: null,
  },
});

interface Run {
  perTick: number;
  corked: boolean;
  rounds: number;
}

if (process.argv.includes('--serve')) await serve();
else await main();

async function serve(): Promise<void> {
  const { createLogger } = await import('@chat/service');
  const { createMetrics } = await import('@chat/service/metrics');
  const { Connection } = await import('@chat/service/connection');
  const metrics = createMetrics('bench');
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const sockets: { socket: WebSocket; tcp: Socket }[] = [];
  server.on('connection', (socket, request) => sockets.push({ socket, tcp: request.socket as Socket }));
  const noRooms = { leave: () => {} };
  const log = createLogger({ logLevel: 'silent', instanceId: 'bench' });
  const identity = { userId: 'u', name: null, image: null, systemRole: null, expiresAt: null };
  process.send!({ port: (server.address() as { port: number }).port });
  let start = process.cpuUsage();
  process.on('message', async (message: Run | 'read' | 'stop') => {
    if (message === 'stop') return process.exit(0);
    // The clients have read everything: the CPU is read now.
    if (message === 'read') return process.send!({ cpu: process.cpuUsage(start) });
    const { perTick, corked, rounds } = message;
    const connections = sockets.map(({ socket, tcp }, i) =>
      new Connection(`c${i}`, identity as never, socket, log, metrics, 1 << 30, noRooms, corked ? tcp : null),
    );
    start = process.cpuUsage();
    for (let round = 0; round < rounds; round++) {
      for (const connection of connections) for (let k = 0; k < perTick; k++) connection.sendRaw(FRAME);
      await new Promise((resolve) => setImmediate(resolve));
    }
    process.send!({ sent: true });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sockets: { type: 'string', default: '200' },
      frames: { type: 'string', default: '600000' },
      rounds: { type: 'string', default: '3' },
      'per-tick': { type: 'string', default: '1,2,4' },
    },
  });
  const socketCount = Math.min(2000, Number(values.sockets));
  const frames = Math.min(5_000_000, Number(values.frames));
  const rounds = Math.min(9, Number(values.rounds));
  const perTicks = values['per-tick'].split(',').map(Number).filter((k) => k >= 1 && k <= 64);

  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { execArgv: ['--import', 'tsx'] });
  const next = (c: ChildProcess) => once(c, 'message').then(([m]) => m as Record<string, unknown>);
  const { port } = (await next(child)) as { port: number };
  let received = 0;
  let target = 0;
  let done: (() => void) | null = null;
  const clients = await Promise.all(
    Array.from({ length: socketCount }, async () => {
      const client = new WebSocket(`ws://127.0.0.1:${port}`);
      client.on('message', () => {
        if (++received === target) done?.();
      });
      await once(client, 'open');
      return client;
    }),
  );

  const results = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const perTick of perTicks) {
      for (const corked of round % 2 === 0 ? [false, true] : [true, false]) {
        const ticks = Math.max(1, Math.round(frames / (perTick * socketCount)));
        received = 0;
        target = ticks * perTick * socketCount;
        const all = new Promise<void>((resolve) => (done = resolve));
        child.send({ perTick, corked, rounds: ticks } satisfies Run);
        await next(child);
        await all;
        child.send('read');
        const { cpu } = (await next(child)) as { cpu: { user: number; system: number } };
        const key = `${perTick} per tick, ${corked ? 'corked' : 'uncorked'}`;
        results.set(key, [...(results.get(key) ?? []), (cpu.user + cpu.system) / target]);
      }
    }
  }
  child.send('stop');
  for (const client of clients) client.terminate();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`server CPU per frame (µs), ${socketCount} sockets, ~${frames} frames per step, medians of ${rounds} alternating rounds [per round]:`);
  for (const [key, xs] of results) console.log(`  ${key.padEnd(24)} ${median(xs).toFixed(2)}  [${xs.map((x) => x.toFixed(2)).join(' / ')}]`);
}
