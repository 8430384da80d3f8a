/**
 * Start-up time and idle memory of the service as production runs it:
 *   pnpm bench:startup [--runs 5] [--idle-sec 5] [--cwd DIR] [--database-url URL] -- <command…>
 *   e.g. (from scripts/)  pnpm bench:startup -- node dist/server.js        (cwd: services/chat)
 *                         pnpm bench:startup -- node --import tsx src/server.ts
 * Each run starts the command with the image's settings (NODE_ENV=production, a given
 * DATABASE_URL, no migration or seed), counts the milliseconds from spawn to the first
 * `/readyz` 200 (polled every 5 ms), waits --idle-sec with no traffic, and reads the RSS of
 * the process and its descendants (/proc, Linux), then stops it with SIGTERM. Runs go one
 * after the other on one database (an embedded throwaway one unless --database-url, which
 * must be migrated already); prints each run and the medians as JSON.
 */
import { migrate } from '@chat/db';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '@chat/db/embedded';
import { startThrowawayPostgres } from './cluster.ts';
import { repoRoot, sleep } from './common.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '5' },
    'idle-sec': { type: 'string', default: '5' },
    cwd: { type: 'string', default: path.join(repoRoot, 'services/chat') },
    'database-url': { type: 'string' },
  },
});
if (positionals.length === 0) {
  console.error('usage: pnpm bench:startup [--runs 5] [--idle-sec 5] [--cwd DIR] [--database-url URL] -- <command…>');
  process.exit(2);
}

interface Run {
  readyMs: number;
  rssMiB: number;
  processes: number;
}

/** The pid and every descendant, from /proc/<pid>/stat's parent field. */
function tree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found = [root];
  for (let i = 0; i < found.length; i++) for (const [pid, ppid] of parents) if (ppid === found[i]) found.push(pid);
  return found;
}

function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function once(databaseUrl: string): Promise<Run> {
  const port = await freePort();
  const [command, ...args] = positionals as [string, ...string[]];
  const started = performance.now();
  const child = spawn(command, args, {
    cwd: values.cwd,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      AUTH_SECRET: 'startup-bench-secret-0123456789abcdef0123456789',
      MIGRATE_ON_START: 'false',
      SEED_DEMO: 'false',
      LOG_LEVEL: 'warn',
    },
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let readyMs = 0;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${positionals.join(' ')} exited with ${child.exitCode} before it was ready`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) {
      readyMs = performance.now() - started;
      break;
    }
    if (performance.now() - started > 60_000) throw new Error('not ready within 60 s');
    await sleep(5);
  }
  await sleep(Number(values['idle-sec']) * 1000);
  const pids = tree(child.pid!);
  const rssMiB = pids.reduce((sum, pid) => sum + rssKiB(pid), 0) / 1024;
  child.kill('SIGTERM');
  await exited;
  return { readyMs: Math.round(readyMs), rssMiB: Math.round(rssMiB * 10) / 10, processes: pids.length };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let databaseUrl = values['database-url'];
let stopDatabase = async () => {};
if (!databaseUrl) {
  const server = await startThrowawayPostgres('chat-startup-pg-');
  await migrate(server.url);
  databaseUrl = server.url;
  stopDatabase = server.stop;
}
try {
  const runs: Run[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    runs.push(await once(databaseUrl));
    console.error(`run ${i + 1}: ready in ${runs.at(-1)!.readyMs} ms, idle RSS ${runs.at(-1)!.rssMiB} MiB (${runs.at(-1)!.processes} processes)`);
  }
  console.log(
    JSON.stringify({
      command: positionals.join(' '),
      cwd: values.cwd,
      runs,
      median: { readyMs: median(runs.map((r) => r.readyMs)), rssMiB: median(runs.map((r) => r.rssMiB)) },
    }),
  );
} finally {
  await stopDatabase();
}
