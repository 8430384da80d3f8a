/**
 * Service instances as real child processes (`node --import tsx src/server.ts`), for the
 * faults that need a process to die: kill -9, SIGTERM drain, and log capture of the real
 * production logger. Every process is killed by the PID this module started, never by name.
 */
import { freePort } from '@chat/db/embedded';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually } from '@chat/test-support/harness';
import { SECRET } from '@chat/test-support/tokens';

const serviceDir = fileURLToPath(new URL('../../../', import.meta.url));

export interface ChildInstance {
  name: string;
  pid: number;
  port: number;
  http: string;
  ws: string;
  process: ChildProcess;
  /** Everything the process wrote to stdout and stderr (pino writes JSON lines to stdout). */
  output(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  hasExited(): boolean;
  signal(signal: NodeJS.Signals): void;
}

const started = new Set<ChildInstance>();

export async function spawnInstance(name: string, databaseUrl: string, env: Record<string, string> = {}): Promise<ChildInstance> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: serviceDir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      AUTH_SECRET: SECRET,
      LOG_LEVEL: 'warn',
      INSTANCE_ID: name,
      MIGRATE_ON_START: 'false',
      SEED_DEMO: 'false',
      // Test clients all come from 127.0.0.1 at machine speed; the limit tests set their own.
      SEND_RATE_PER_SEC: '100000',
      SEND_BURST: '100000',
      DB_WORK_PER_SEC: '10000000',
      DB_WORK_BURST: '10000000',
      GROUP_CREATES_PER_HOUR: '10000000',
      CONNECTS_PER_IP_PER_MIN: '10000000',
      HTTP_RATE_PER_MIN: '10000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => chunks.push(chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => chunks.push(chunk));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal, at: Date.now() });
    });
  });
  const instance: ChildInstance = {
    name,
    pid: child.pid!,
    port,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/ws`,
    process: child,
    output: () => chunks.join(''),
    exited,
    hasExited: () => done,
    signal: (signal) => {
      if (!done) process.kill(child.pid!, signal);
    },
  };
  started.add(instance);
  try {
    await eventually(
      async () => {
        if (done) throw new Error(`instance ${name} exited during start-up:\n${instance.output()}`);
        return (await fetch(`${instance.http}/readyz`)).status === 200;
      },
      `instance ${name} ready`,
      30_000,
    );
  } catch (error) {
    await stopInstance(instance);
    throw new Error(`${String(error)}\n${instance.output()}`);
  }
  return instance;
}

/** Stops one child this module started (SIGTERM, then SIGKILL after a grace period), by its PID. */
export async function stopInstance(instance: ChildInstance): Promise<void> {
  if (instance.hasExited()) return;
  instance.signal('SIGTERM');
  const timer = setTimeout(() => instance.signal('SIGKILL'), 8000);
  await instance.exited;
  clearTimeout(timer);
  started.delete(instance);
}

export async function stopAllInstances(): Promise<void> {
  await Promise.all([...started].map((instance) => stopInstance(instance)));
}
