/**
 * pnpm bench:compare — ours against the Socket.IO peers, by the method of issue 12:
 *   ours                the production build (services/chat/dist/server.js, built first), rate
 *                       limits raised through its environment, everything else at its defaults
 *   socketio            Socket.IO 4 + @socket.io/postgres-adapter, persists nothing
 *   socketio-persist    the same + one awaited INSERT per message before ack and broadcast
 * 1000 clients over 2 instances, rooms of 10 (5 members per instance), open-loop sends up a
 * ladder of rates; each step a 2-s warm-up then ≥ 10 s measured; p99 over every receiver; a
 * step passes when p99 < 50 ms and ≥ 97 % of the target rate was sent. Beside each step: box,
 * instances', PostgreSQL's and the generator's CPU (from /proc) and CPU per 1,000 sends.
 * Then, for ours and the plain peer: idle RSS per connection at 10,000 subscribed sockets (and
 * each process's RSS before any), and 10,000 authenticated connects at once over 2 instances.
 * Rounds ALTERNATE the systems (ours, plain, persisting, ours, …), each run on fresh processes
 * and a fresh database; medians are reported with the per-round values in brackets.
 *
 *   pnpm bench:compare [--rounds 3] [--only ours,socketio,socketio-persist] [--rates 500,1000,…]
 *                      [--report-rates 1000,2000] [--step-sec 10] [--warmup-sec 2] [--clients 1000]
 *                      [--room-size 10] [--big 10000 | --no-connects] [--database-url URL | --pg-bin DIR]
 *                      [--calm 60 --calm-wait 300] [--no-build] [--from-source] [--quiet]
 *   pnpm bench:compare --render bench-results/compare-<time>.json    (the tables of an earlier run)
 * PostgreSQL: a throwaway embedded one (18) per run by default; --pg-bin DIR a throwaway server
 * from installed binaries (Debian's 15: /usr/lib/postgresql/15/bin); --database-url URL (or
 * BENCH_DATABASE_URL) an existing server, a fresh database on it per run. Writes
 * bench-results/compare-<time>.json and prints markdown tables (stdout). The box is shared:
 * before each round it waits (at most --calm-wait s) until the CPU others use is under --calm %
 * of the box (200 % = 2 cores), and it records the load average before and after each round.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { startCluster, type Cluster, type SystemName } from './cluster.ts';
import { UsageError, repoRoot, round, sleep } from './common.ts';
import { pgCpuSource, readBoxTimes } from './cpu.ts';
import { renderCompare, type CompareData, type ConnectRun, type LadderRun } from './compare-report.ts';
import { driverFor, runScenario } from './run.ts';
import { defaults, type RunOptions } from './options.ts';
import { ladder } from './scenarios/ladder.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    only: { type: 'string', default: 'ours,socketio,socketio-persist' },
    rates: { type: 'string', default: '500,1000,1250,1500,1750,2000,2250,2500,2750,3000,3500,4000,5000,6000,8000' },
    'report-rates': { type: 'string', default: '1000,2000' },
    'step-sec': { type: 'string', default: '10' },
    'warmup-sec': { type: 'string', default: '2' },
    'drain-between': { type: 'string', default: '10' },
    clients: { type: 'string', default: '1000' },
    'room-size': { type: 'string', default: '10' },
    instances: { type: 'string', default: '2' },
    'p99-target': { type: 'string', default: '50' },
    'min-sent': { type: 'string', default: '0.97' },
    big: { type: 'string', default: '10000' },
    'no-connects': { type: 'boolean', default: false },
    'database-url': { type: 'string' },
    'pg-bin': { type: 'string' },
    calm: { type: 'string', default: '60' },
    'calm-wait': { type: 'string', default: '300' },
    'no-build': { type: 'boolean', default: false },
    'from-source': { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
    render: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log((await import('node:fs')).readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}
if (values.render) {
  // Re-renders the tables of an earlier run from its JSON.
  console.log(renderCompare(JSON.parse((await import('node:fs')).readFileSync(values.render, 'utf8')) as CompareData));
  process.exit(0);
}

const numbers = (name: string, raw: string) => {
  const list = raw.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isFinite(n) || n <= 0)) throw new UsageError(`--${name}: positive numbers, comma-separated`);
  return list;
};
const ALL: SystemName[] = ['ours', 'socketio', 'socketio-persist'];
const only = values.only.split(',').map((s) => s.trim()) as SystemName[];
for (const s of only) if (!ALL.includes(s)) throw new UsageError(`--only: some of ${ALL.join(', ')}`);
const systems = ALL.filter((s) => only.includes(s)); // always in the order
const rounds = Math.max(1, Math.min(9, Number(values.rounds)));
const reportRates = numbers('report-rates', values['report-rates']);
const rates = [...new Set([...numbers('rates', values.rates), ...reportRates])].sort((a, b) => a - b);
const stepSec = Number(values['step-sec']);
const warmupSec = Number(values['warmup-sec']);
const clients = Number(values.clients);
const roomSize = Number(values['room-size']);
const instances = Number(values.instances);
const big = Number(values.big);
const databaseUrl = values['database-url'] ?? process.env.BENCH_DATABASE_URL ?? undefined;
const pgBin = values['pg-bin'];
if (databaseUrl && pgBin) throw new UsageError('--database-url and --pg-bin: one or the other');
const connects = !values['no-connects'];

const say = (line: string) => process.stderr.write(`${line}\n`);
const started = performance.now();
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = path.join('bench-results', `compare-${stamp}`);

if (systems.includes('ours') && !values['from-source'] && !values['no-build']) {
  // What `pnpm build` runs; from this tree (commit it first: the JSON records the commit and whether the tree was clean).
  const built = spawnSync(process.execPath, [path.join(repoRoot, 'services/chat/build.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (built.status !== 0) throw new Error('pnpm build failed');
}
const git = (args: string[]) => spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).stdout?.trim() || null;
const commit = process.env.BENCH_COMMIT ?? git(['rev-parse', '--short', 'HEAD']);
const dirty = git(['status', '--porcelain', '--', 'services', 'db', 'scripts']);

/** Busy share of the box over a short quiet interval: the load others put on it before a round. */
async function boxBusyPercent(ms: number): Promise<number> {
  const a = readBoxTimes();
  await sleep(ms);
  const b = readBoxTimes();
  const total = b.total - a.total;
  return total > 0 ? round((100 * os.cpus().length * (b.busy - a.busy)) / total, 1) : NaN;
}

/**
 * On a shared box, waits (up to --calm-wait s) until others use less than --calm % of it
 * (200 % = 2 cores) over a 3-s sample before a round starts; returns the last sample and how
 * long it waited. A round that starts on a busy box anyway says so in the table.
 */
async function waitForCalm(): Promise<{ busyPct: number; waitedSec: number }> {
  const limit = Number(values.calm);
  const deadline = performance.now() + Number(values['calm-wait']) * 1000;
  const waitStarted = performance.now();
  for (;;) {
    const busyPct = await boxBusyPercent(3000);
    if (busyPct < limit || performance.now() > deadline) return { busyPct, waitedSec: round((performance.now() - waitStarted) / 1000, 0) };
    say(`   the box is busy (${busyPct} % of ${os.cpus().length * 100} % used by others): waiting for < ${limit} %`);
    await sleep(2000);
  }
}

async function withCluster<T>(system: SystemName, run: (cluster: Cluster) => Promise<T>): Promise<T> {
  const cluster = await startCluster({
    system,
    instances,
    quiet: true,
    databaseUrl,
    freshDatabase: !!databaseUrl,
    pgBin,
    fromSource: values['from-source'],
  });
  try {
    return await run(cluster);
  } finally {
    await cluster.stop();
  }
}

function base(system: SystemName, cluster: Cluster, scenario: 'fanout' | 'idle' | 'connect-storm'): RunOptions {
  return {
    ...defaults(scenario),
    driver: system === 'ours' ? 'ours' : 'socketio',
    targets: cluster.targets,
    setup: 'db',
    databaseUrl: cluster.databaseUrl ?? undefined,
    quiet: values.quiet,
    outDir,
  };
}

const data: CompareData = {
  date: new Date().toISOString(),
  command: `pnpm bench:compare ${process.argv.slice(2).join(' ')}`.trim(),
  commit,
  treeDirty: !!dirty,
  settings: { rounds, systems, rates, reportRates, stepSec, warmupSec, clients, roomSize, instances, big: connects ? big : null, p99TargetMs: Number(values['p99-target']), minSentShare: Number(values['min-sent']) },
  machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  postgres: null,
  rounds: [],
  ladders: [],
  connects: [],
  failures: [],
  elapsedSec: 0,
};

for (let roundNo = 1; roundNo <= rounds; roundNo++) {
  const { busyPct: othersBusy, waitedSec } = await waitForCalm();
  const loadBefore = os.loadavg().map((l) => round(l, 2));
  say(`\n== round ${roundNo}/${rounds} · load average ${loadBefore.join(' ')} · box busy ${othersBusy} % before (200 % = 2 cores; waited ${waitedSec} s) ==`);
  for (const system of systems) {
    say(`-- ${system}: ladder`);
    try {
      const run = await withCluster(system, async (cluster) => {
        data.postgres ??= { version: cluster.postgresVersion, source: cluster.postgresSource };
        const sql = postgres(cluster.databaseUrl!, { max: 1, onnotice: () => {} });
        try {
          const pg = await pgCpuSource(sql, databaseUrl ? 'filtered' : 'tree');
          // drainMs: after the last step, how long every acked message has to reach every member before it counts as not delivered.
          const options: RunOptions = { ...base(system, cluster, 'fanout'), clients, roomSize, connectConcurrency: 200, drainMs: 15_000 };
          return await ladder(options, driverFor(options.driver), {
            rates,
            warmupSec,
            stepSec,
            mustReach: Math.max(...reportRates),
            p99TargetMs: Number(values['p99-target']),
            minSentShare: Number(values['min-sent']),
            drainBetweenMs: Number(values['drain-between']) * 1000,
            instancePids: cluster.pids,
            pg,
          });
        } finally {
          await sql.end({ timeout: 2 });
        }
      });
      const entry: LadderRun = { system, round: roundNo, ...run };
      data.ladders.push(entry);
      say(`   highest passing: ${run.highestPassing ?? 'none'}; lost ${run.report.losses}, dup ${run.report.duplicates}, order ${run.report.orderingViolations}, frame ${run.createdFrameBytesMean} B`);
    } catch (error) {
      data.failures.push(`${system} round ${roundNo} ladder: ${(error as Error).stack ?? error}`);
      say(`   FAILED: ${(error as Error).message}`);
    }
  }
  if (connects) {
    for (const system of systems.filter((s) => s !== 'socketio-persist')) {
      const entry: ConnectRun = { system, round: roundNo, idle: null, storm: null };
      say(`-- ${system}: idle ${big} + connect storm ${big}`);
      try {
        await withCluster(system, async (cluster) => {
          const report = await runScenario({ ...base(system, cluster, 'idle'), clients: big, roomSize: 10, holdSec: 10, pids: cluster.pids, connectConcurrency: 500, label: `${system}-r${roundNo}` });
          const r = report.result as { kibPerConnection: number; perTarget: { rssBeforeBytes: number }[]; connected: number };
          entry.idle = {
            kibPerConnection: r.kibPerConnection,
            rssBeforeMiB: round(r.perTarget.reduce((a, t) => a + t.rssBeforeBytes, 0) / r.perTarget.length / 2 ** 20, 1),
            connected: r.connected,
            generatorSaturated: report.generator.saturated,
          };
        });
        await withCluster(system, async (cluster) => {
          const report = await runScenario({ ...base(system, cluster, 'connect-storm'), clients: big, connectTimeoutMs: 30_000, label: `${system}-r${roundNo}` });
          const r = report.result as { wallMs: number; connected: number; failed: number; connectLatencyMs: { p50: number; p99: number } };
          entry.storm = {
            wallSec: round(r.wallMs / 1000, 2),
            connected: r.connected,
            failed: r.failed,
            p50Ms: r.connectLatencyMs.p50,
            p99Ms: r.connectLatencyMs.p99,
            generatorCpuPct: report.generator.cpuPercentOfOneCore.mean,
            generatorSaturated: report.generator.saturated,
          };
        });
        say(`   idle ${entry.idle?.kibPerConnection} KiB/conn (RSS before ${entry.idle?.rssBeforeMiB} MiB); connects ${entry.storm?.wallSec} s`);
      } catch (error) {
        data.failures.push(`${system} round ${roundNo} connects: ${(error as Error).stack ?? error}`);
        say(`   FAILED: ${(error as Error).message}`);
      }
      data.connects.push(entry);
    }
  }
  const loadAfter = os.loadavg().map((l) => round(l, 2));
  data.rounds.push({ round: roundNo, loadAverageBefore: loadBefore, loadAverageAfter: loadAfter, boxBusyBeforePct: othersBusy, waitedForCalmSec: waitedSec });
  say(`== round ${roundNo} done · load average ${loadAfter.join(' ')} ==`);
}

data.elapsedSec = round((performance.now() - started) / 1000, 0);
const file = path.join(repoRoot, 'bench-results', `compare-${stamp}.json`);
await mkdir(path.dirname(file), { recursive: true });
await writeFile(file, `${JSON.stringify(data, null, 2)}\n`);
console.log(renderCompare(data));
for (const failure of data.failures) console.log(`\nFAILED: ${failure.split('\n')[0]}`);
console.log(`\n${file}`);
process.exit(data.failures.length ? 1 : 0);
