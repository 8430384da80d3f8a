/**
 * Start-up time and idle memory of the service as production runs it:
 *   pnpm bench:startup [--runs 5] [--idle-sec 5] [--cwd DIR] [--database-url URL] -- <command…>
 *   e.g. (from scripts/)  pnpm bench:startup -- node dist/server.js        (cwd: services/chat)
 *                         pnpm bench:startup -- node --import tsx src/server.ts
 * Each run starts the command with the image's settings (NODE_ENV=production, a given
 * DATABASE_URL, no migration or seed), counts the milliseconds from spawn to the first
 * `/readyz` 200 (polled every 5 ms) and the CPU time the process and its descendants used
 * until then (user + system, from /proc: less sensitive to a busy machine than the wall
 * time), waits --idle-sec with no traffic, reads their RSS, then stops it with SIGTERM. Runs go one
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
  cpuMs: number;
  rssMiB: number;
  processes: number;
}

/** The pid and every descendant (from /proc/<pid>/stat's parent field), with the CPU time each used (ms). */
function tree(root: number): { pids: number[]; cpuMs: number } {
  const parents = new Map<number, number>();
  const cpu = new Map<number, number>();
  const tick = 1000 / 100; // USER_HZ
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3, state
      parents.set(Number(entry), Number(fields[1]));
      cpu.set(Number(entry), (Number(fields[11]) + Number(fields[12])) * tick);
    } catch {
      // gone meanwhile
    }
  }
  const pids = [root];
  for (let i = 0; i < pids.length; i++) for (const [pid, ppid] of parents) if (ppid === pids[i]) pids.push(pid);
  return { pids, cpuMs: pids.reduce((sum, pid) => sum + (cpu.get(pid) ?? 0), 0) };
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
  let cpuMs = 0;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${positionals.join(' ')} exited with ${child.exitCode} before it was ready`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) {
      readyMs = performance.now() - started;
      cpuMs = tree(child.pid!).cpuMs;
      break;
    }
    if (performance.now() - started > 60_000) throw new Error('not ready within 60 s');
    await sleep(5);
  }
  await sleep(Number(values['idle-sec']) * 1000);
  const { pids } = tree(child.pid!);
  const rssMiB = pids.reduce((sum, pid) => sum + rssKiB(pid), 0) / 1024;
  child.kill('SIGTERM');
  await exited;
  return { readyMs: Math.round(readyMs), cpuMs: Math.round(cpuMs), rssMiB: Math.round(rssMiB * 10) / 10, processes: pids.length };
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
    console.error(`run ${i + 1}: ready in ${runs.at(-1)!.readyMs} ms (${runs.at(-1)!.cpuMs} ms of CPU), idle RSS ${runs.at(-1)!.rssMiB} MiB (${runs.at(-1)!.processes} processes)`);
  }
  console.log(
    JSON.stringify({
      command: positionals.join(' '),
      cwd: values.cwd,
      runs,
      median: { readyMs: median(runs.map((r) => r.readyMs)), cpuMs: median(runs.map((r) => r.cpuMs)), rssMiB: median(runs.map((r) => r.rssMiB)) },
    }),
  );
} finally {
  await stopDatabase();
}
