/**
 * pnpm bench:compare — ours against the Socket.IO peer, measured by the same load code.
 * For each round, ALTERNATING systems (ours, peer, persisting peer, ours, …), a fresh cluster
 * (embedded PostgreSQL + 2 instances) runs: fanout at 1000 and at 2000 sends/s, then the ramp.
 * Medians over the rounds go to bench-results/compare-<date>.json and a markdown table to stdout.
 *   pnpm bench:compare [--rounds 3] [--clients 1000] [--room-size 10] [--duration 10]
 *                      [--rates 1000,2000] [--ramp-start 500] [--ramp-step 500] [--step-seconds 5]
 *                      [--ramp-duration 60] [--with-raw] [--quick]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, round } from './common.ts';
import { startCluster, type SystemName } from './cluster.ts';
import { defaults, type RunOptions } from './options.ts';
import { runScenario, type Report } from './run.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '1000' },
    'room-size': { type: 'string', default: '10' },
    duration: { type: 'string', default: '10' },
    rates: { type: 'string', default: '1000,2000' },
    'ramp-start': { type: 'string', default: '500' },
    'ramp-step': { type: 'string', default: '500' },
    'step-seconds': { type: 'string', default: '5' },
    'ramp-duration': { type: 'string', default: '60' },
    instances: { type: 'string', default: '2' },
    'with-raw': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
});

const quick = values.quick;
const rounds = Math.min(5, Number(values.rounds));
const clients = quick ? Math.min(200, Number(values.clients)) : Number(values.clients);
const roomSize = Number(values['room-size']);
const duration = quick ? 3 : Number(values.duration);
const fixedRates = values.rates.split(',').map(Number);
const stepSec = quick ? 2 : Number(values['step-seconds']);
const rampDuration = quick ? 12 : Number(values['ramp-duration']);
const systems: SystemName[] = ['ours', 'socketio', 'socketio-persist', ...(values['with-raw'] ? (['raw'] as SystemName[]) : [])];
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = path.join('bench-results', `compare-${stamp}`);

type Row = {
  system: SystemName;
  round: number;
  run: string;
  sendsPerSec: number;
  deliveriesPerSec: number;
  ackP50: number;
  ackP99: number;
  recvP50: number;
  recvP95: number;
  recvP99: number;
  losses: number;
  duplicates: number;
  orderingViolations: number;
  sendErrors: number;
  maxRateUnderTarget: number | null;
  generatorSaturated: boolean;
  file: string | null;
};

function rowOf(system: SystemName, roundNo: number, run: string, report: Report): Row {
  const r = report.result as Record<string, any>;
  return {
    system,
    round: roundNo,
    run,
    sendsPerSec: r.sendsPerSec,
    deliveriesPerSec: r.deliveriesPerSec,
    ackP50: r.sendAckMs.p50,
    ackP99: r.sendAckMs.p99,
    recvP50: r.sendReceiveMs.p50,
    recvP95: r.sendReceiveMs.p95,
    recvP99: r.sendReceiveMs.p99,
    losses: r.losses,
    duplicates: r.duplicates,
    orderingViolations: r.orderingViolations,
    sendErrors: Object.values(r.sendErrors as Record<string, number>).reduce((a, b) => a + b, 0),
    maxRateUnderTarget: r.ramp ? r.ramp.maxRateUnderTarget : null,
    generatorSaturated: report.generator.saturated,
    file: report.file,
  };
}

function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const rows: Row[] = [];
const failures: string[] = [];
const say = (line: string) => process.stderr.write(`${line}\n`);
const started = performance.now();

for (let roundNo = 1; roundNo <= rounds; roundNo++) {
  for (const system of systems) {
    say(`\n== round ${roundNo}/${rounds}: ${system} ==`);
    const cluster = await startCluster({ system, instances: Number(values.instances), quiet: true });
    try {
      const base = (scenario: 'fanout'): RunOptions => ({
        ...defaults(scenario),
        driver: system === 'ours' ? 'ours' : system === 'raw' ? 'raw' : 'socketio',
        targets: cluster.targets,
        clients,
        roomSize,
        setup: system === 'raw' ? 'local' : 'db',
        databaseUrl: cluster.databaseUrl ?? undefined,
        connectConcurrency: 200,
        quiet: values.quiet,
        outDir,
      });
      for (const rate of fixedRates) {
        try {
          const report = await runScenario({ ...base('fanout'), rate, durationSec: duration, label: `${system}-r${roundNo}-${rate}` });
          rows.push(rowOf(system, roundNo, `fanout ${rate}/s`, report));
          say(`   fanout ${rate}/s: sent ${report.result.sendsPerSec}/s, recv p99 ${(report.result as any).sendReceiveMs.p99} ms`);
        } catch (error) {
          failures.push(`${system} round ${roundNo} fanout ${rate}: ${(error as Error).message}`);
        }
      }
      try {
        const report = await runScenario({
          ...base('fanout'),
          ramp: true,
          rampStart: Number(values['ramp-start']),
          rampStep: Number(values['ramp-step']),
          stepSec,
          durationSec: rampDuration,
          label: `${system}-r${roundNo}-ramp`,
        });
        rows.push(rowOf(system, roundNo, 'ramp', report));
        say(`   ramp: max rate with p99 < 50 ms: ${(report.result as any).ramp.maxRateUnderTarget}`);
      } catch (error) {
        failures.push(`${system} round ${roundNo} ramp: ${(error as Error).message}`);
      }
    } finally {
      await cluster.stop();
    }
  }
}

const runs = [...new Set(rows.map((r) => r.run))];
const medians = systems.flatMap((system) =>
  runs.map((run) => {
    const of = rows.filter((r) => r.system === system && r.run === run);
    // null (e.g. no ramp step under the target) is not a zero: leave it out of the median.
    const m = (key: keyof Row) => round(median(of.map((r) => (r[key] === null ? NaN : Number(r[key])))), 3);
    const rampNone = run === 'ramp' ? of.filter((r) => r.maxRateUnderTarget === null).length : 0;
    return {
      system,
      run,
      rounds: of.length,
      sendsPerSec: m('sendsPerSec'),
      deliveriesPerSec: m('deliveriesPerSec'),
      ackP50: m('ackP50'),
      ackP99: m('ackP99'),
      recvP50: m('recvP50'),
      recvP95: m('recvP95'),
      recvP99: m('recvP99'),
      maxRateUnderTarget: run === 'ramp' ? (rampNone * 2 > of.length ? null : m('maxRateUnderTarget')) : null,
      /** Ramp rounds in which even the first step missed the target. */
      rampRoundsWithNoRateUnderTarget: rampNone,
      losses: of.reduce((a, r) => a + r.losses, 0),
      duplicates: of.reduce((a, r) => a + r.duplicates, 0),
      orderingViolations: of.reduce((a, r) => a + r.orderingViolations, 0),
      sendErrors: of.reduce((a, r) => a + r.sendErrors, 0),
      generatorSaturatedRuns: of.filter((r) => r.generatorSaturated).length,
    };
  }),
);

const date = new Date().toISOString().slice(0, 10);
const file = path.join(repoRoot, 'bench-results', `compare-${date}.json`);
await mkdir(path.dirname(file), { recursive: true });
await writeFile(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), settings: { rounds, clients, roomSize, duration, fixedRates, stepSec, rampDuration, systems, instances: Number(values.instances) }, medians, rows, failures, elapsedSec: round((performance.now() - started) / 1000, 1) }, null, 2)}\n`,
);

const lines = [
  `| system | run | sends/s | deliveries/s | ack p50 | ack p99 | recv p50 | recv p95 | recv p99 | max rate p99<50ms | lost | dup | order viol. | errors | saturated runs |`,
  `|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ...medians.map(
    (m) =>
      `| ${m.system} | ${m.run} | ${m.sendsPerSec} | ${m.deliveriesPerSec} | ${m.ackP50} | ${m.ackP99} | ${m.recvP50} | ${m.recvP95} | ${m.recvP99} | ${m.run === 'ramp' ? (m.maxRateUnderTarget ?? `none (first step over in ${m.rampRoundsWithNoRateUnderTarget}/${m.rounds})`) : ''} | ${m.losses} | ${m.duplicates} | ${m.orderingViolations} | ${m.sendErrors} | ${m.generatorSaturatedRuns}/${m.rounds} |`,
  ),
];
console.log(`\nMedians of ${rounds} alternating rounds; ${clients} clients, rooms of ${roomSize}, 2 instances each; latencies in ms.\n`);
console.log(lines.join('\n'));
for (const failure of failures) console.log(`\nFAILED: ${failure}`);
console.log(`\n${file}`);
process.exit(failures.length ? 1 : 0);
