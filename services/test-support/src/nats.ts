/**
 * A real NATS server for the tests: Debian's `nats-server` (package nats-server) with
 * JetStream (`-js`) on a free loopback port and a temporary store (`-sd`), as a child
 * process, stopped by its own PID. Never a server that happens to run on the machine.
 */
import { freePort } from '@chat/db/embedded';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export interface NatsServer {
  url: string;
  port: number;
  /** The current process's PID. */
  readonly pid: number;
  /** Stops it (SIGKILL: the harshest outage) and waits until it is gone; the store survives. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store. */
  start(): Promise<void>;
  /** Kills it and deletes the store. */
  stop(): Promise<void>;
  output(): string;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startNatsServer(): Promise<NatsServer> {
  if (!existsSync(NATS_SERVER_BIN)) {
    throw new Error(`${NATS_SERVER_BIN} is not installed. The NATS bus tests run the real server: apt-get install -y nats-server`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'chat-test-nats-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  let log = '';

  const start = async () => {
    const proc = spawn(NATS_SERVER_BIN, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir, '-n', `chat-test-${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout!.on('data', (d) => (log = (log + d).slice(-20_000)));
    proc.stderr!.on('data', (d) => (log = (log + d).slice(-20_000)));
    const exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`nats-server exited (${code}):\n${log}`))));
    exited.catch(() => {});
    const deadline = Date.now() + 15_000;
    for (;;) {
      // The server logs "Server is ready" once it accepts clients (JetStream included).
      if (log.includes('Server is ready') && (await accepts(port))) return;
      if (proc.exitCode !== null) await exited;
      if (Date.now() > deadline) throw new Error(`nats-server did not become ready:\n${log}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const kill = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((resolve) => proc.once('exit', resolve));
    process.kill(proc.pid!, 'SIGKILL');
    await gone;
  };

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    get pid() {
      return (child as ChildProcess | null)?.pid ?? -1;
    },
    kill,
    start,
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
    output: () => log,
  };
}
