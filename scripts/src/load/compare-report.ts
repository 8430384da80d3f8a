/** bench:compare's results and the markdown tables made from them (medians [per round]). */
import type { SystemName } from './cluster.ts';
import type { LadderResult, StepResult } from './scenarios/ladder.ts';
import { formatNumber, median, medianAndRounds } from './rounds.ts';

export type LadderRun = { system: SystemName; round: number } & LadderResult;

export interface ConnectRun {
  system: SystemName;
  round: number;
  idle: { kibPerConnection: number; rssBeforeMiB: number; connected: number; generatorSaturated: boolean } | null;
  storm: { wallSec: number; connected: number; failed: number; p50Ms: number; p99Ms: number; generatorCpuPct: number; generatorSaturated: boolean } | null;
}

export interface CompareData {
  date: string;
  command: string;
  commit: string | null;
  treeDirty: boolean;
  settings: {
    rounds: number;
    systems: SystemName[];
    rates: number[];
    reportRates: number[];
    stepSec: number;
    warmupSec: number;
    clients: number;
    roomSize: number;
    instances: number;
    big: number | null;
    p99TargetMs: number;
    minSentShare: number;
  };
  machine: { cores: number; cpu: string; memoryGiB: number; node: string };
  postgres: { version: string | null; source: string | null } | null;
  rounds: { round: number; loadAverageBefore: number[]; loadAverageAfter: number[]; boxBusyBeforePct: number; waitedForCalmSec: number }[];
  ladders: LadderRun[];
  connects: ConnectRun[];
  failures: string[];
  elapsedSec: number;
}

export const SYSTEM_TITLES: Record<SystemName, string> = {
  ours: 'ours',
  socketio: 'Socket.IO + pg adapter',
  'socketio-persist': 'persisting peer',
  raw: 'raw ws reference',
};

/** Per-round values of one system, in round order (null where the round has none). */
function perRound<T, R>(runs: T[], roundOf: (t: T) => number, rounds: number, pick: (t: T) => R | null): (R | null)[] {
  return Array.from({ length: rounds }, (_, i) => {
    const run = runs.find((r) => roundOf(r) === i + 1);
    return run ? pick(run) : null;
  });
}

export function stepAt(run: LadderRun, rate: number): StepResult | null {
  return run.steps.find((s) => s.rate === rate) ?? null;
}

export function renderCompare(data: CompareData): string {
  const { rounds, systems } = data.settings;
  const ladders = (system: SystemName) => data.ladders.filter((l) => l.system === system);
  const connects = (system: SystemName) => data.connects.filter((c) => c.system === system);
  const ladderValues = (system: SystemName, pick: (l: LadderRun) => number | null) => perRound(ladders(system), (l) => l.round, rounds, pick);
  const stepValues = (system: SystemName, rate: number, pick: (s: StepResult) => number | null) =>
    ladderValues(system, (l) => {
      const step = stepAt(l, rate);
      return step ? pick(step) : null;
    });
  const cell = (values: (number | null)[], unit = '', none = '–') => (values.every((v) => v === null) ? none : medianAndRounds(values, { unit, none }));
  const noneCell = (values: (number | null)[]) => (values.every((v) => v === null) && !values.length ? '–' : medianAndRounds(values, { none: 'none' }));

  const rows: string[][] = [];
  rows.push([`highest sends/s with p99 < ${data.settings.p99TargetMs} ms (and ≥ ${data.settings.minSentShare * 100} % sent)`, ...systems.map((s) => (ladders(s).length ? noneCell(ladderValues(s, (l) => l.highestPassing)) : '–'))]);
  for (const rate of [...data.settings.reportRates].sort((a, b) => b - a)) {
    rows.push([
      `p50 / p99 at ${rate.toLocaleString('en-US')} sends/s (ms)`,
      ...systems.map((s) => `${cell(stepValues(s, rate, (x) => x.recvMs.p50))} / ${cell(stepValues(s, rate, (x) => x.recvMs.p99))}`),
    ]);
  }
  for (const rate of [...data.settings.reportRates].sort((a, b) => a - b)) {
    const r = rate.toLocaleString('en-US');
    rows.push([`box CPU at ${r} sends/s (200 % = both cores)`, ...systems.map((s) => cell(stepValues(s, rate, (x) => x.cpu.boxPct), ' %'))]);
    rows.push([`PostgreSQL CPU at ${r} sends/s (% of a core)`, ...systems.map((s) => cell(stepValues(s, rate, (x) => x.cpu.postgresPct), ' %'))]);
    rows.push([`instances' CPU at ${r} sends/s (both, % of a core)`, ...systems.map((s) => cell(stepValues(s, rate, (x) => x.cpu.instancesPct), ' %'))]);
    rows.push([
      `CPU ms per 1,000 sends at ${r} sends/s: box / instances + PostgreSQL`,
      ...systems.map((s) => `${cell(stepValues(s, rate, (x) => x.boxCpuMsPer1000))} / ${cell(stepValues(s, rate, (x) => x.sutCpuMsPer1000))}`),
    ]);
    rows.push([`load generator CPU at ${r} sends/s (% of a core)`, ...systems.map((s) => cell(stepValues(s, rate, (x) => x.cpu.generatorPct), ' %'))]);
  }
  rows.push(['bytes per `message.created` frame (payload)', ...systems.map((s) => cell(ladderValues(s, (l) => l.createdFrameBytesMean)))]);
  if (data.settings.big) {
    const k = `${data.settings.big / 1000}k`;
    rows.push([
      `idle: RSS per connection at ${k} / process RSS before connections`,
      ...systems.map((s) =>
        connects(s).length
          ? `${cell(perRound(connects(s), (c) => c.round, rounds, (c) => c.idle?.kibPerConnection ?? null), ' KiB')} / ${cell(perRound(connects(s), (c) => c.round, rounds, (c) => c.idle?.rssBeforeMiB ?? null), ' MiB')}`
          : '',
      ),
    ]);
    rows.push([
      `${data.settings.big.toLocaleString('en-US')} authenticated connects at once (${data.settings.instances} instances), wall`,
      ...systems.map((s) => (connects(s).length ? cell(perRound(connects(s), (c) => c.round, rounds, (c) => c.storm?.wallSec ?? null), ' s') : '')),
    ]);
  }
  rows.push([
    'deliveries owed 15 s after the last step / duplicates / out of order, send errors (all rounds)',
    ...systems.map((s) => {
      const l = ladders(s);
      const sum = (f: (x: LadderRun) => number) => l.reduce((a, x) => a + f(x), 0);
      return `${sum((x) => x.report.losses)} / ${sum((x) => x.report.duplicates)} / ${sum((x) => x.report.orderingViolations)}, ${sum((x) => Object.values(x.report.sendErrors).reduce((a, b) => a + b, 0))}`;
    }),
  ]);

  const out: string[] = [];
  out.push(
    `Medians [per round] of ${rounds} alternating round(s); ${data.settings.clients} clients over ${data.settings.instances} instances, rooms of ${data.settings.roomSize}; ` +
      `steps of ${data.settings.warmupSec} s warm-up + ${data.settings.stepSec} s measured; PostgreSQL: ${data.postgres?.version?.split(' on ')[0] ?? '?'} (${data.postgres?.source ?? '?'}); ` +
      `commit ${data.commit ?? '?'}${data.treeDirty ? ' (tree not clean)' : ''}.`,
    '',
  );
  out.push(`| figure (medians [per round]) | ${systems.map((s) => SYSTEM_TITLES[s]).join(' | ')} |`);
  out.push(`|---|${systems.map(() => '---').join('|')}|`);
  for (const row of rows) out.push(`| ${row.join(' | ')} |`);

  out.push(
    '',
    "Every step (medians over the rounds that ran it; CPU in % of one core, the box's out of 200 %; rest = box minus instances, PostgreSQL and generator: " +
      "others' processes and uncharged kernel work; delivered % = deliveries in the step / (sends × room size): under 100 % the system fell behind and " +
      'its CPU per send understates the cost; ms/1k = CPU milliseconds per 1,000 sends, SUT = instances + PostgreSQL):',
    '',
  );
  out.push('| system | sends/s target | passed | sent/s | delivered % | recv p50 ms | recv p99 ms | box % | instances % | PostgreSQL % | generator % | rest % | generator lag p99 ms | box ms/1k | SUT ms/1k |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const system of systems) {
    for (const rate of data.settings.rates) {
      const steps = ladders(system)
        .map((l) => stepAt(l, rate))
        .filter((s): s is StepResult => s !== null);
      if (!steps.length) continue;
      const m = (f: (s: StepResult) => number | null) => formatNumber(median(steps.map(f)), '–');
      const rs = (f: (s: StepResult) => number | null) => stepValues(system, rate, f);
      out.push(
        `| ${SYSTEM_TITLES[system]} | ${rate.toLocaleString('en-US')} | ${steps.filter((s) => s.pass).length}/${steps.length} | ${m((s) => s.sendsPerSec)} | ${m((s) => (s.sendsPerSec > 0 ? (100 * s.deliveriesPerSec) / (s.sendsPerSec * data.settings.roomSize) : null))} | ${cell(rs((s) => s.recvMs.p50))} | ${cell(rs((s) => s.recvMs.p99))} | ${m((s) => s.cpu.boxPct)} | ${m((s) => s.cpu.instancesPct)} | ${m((s) => s.cpu.postgresPct)} | ${m((s) => s.cpu.generatorPct)} | ${m((s) => s.restPct)} | ${m((s) => s.generatorLagMs.p99)} | ${m((s) => s.boxCpuMsPer1000)} | ${m((s) => s.sutCpuMsPer1000)} |`,
      );
    }
  }
  out.push('', '| round | load average before (1/5/15 min) | CPU others used before (3 s, of 200 %) | waited for that | load average after |', '|---|---|---:|---:|---|');
  for (const r of data.rounds) out.push(`| ${r.round} | ${r.loadAverageBefore.join(' / ')} | ${r.boxBusyBeforePct} % | ${r.waitedForCalmSec} s | ${r.loadAverageAfter.join(' / ')} |`);
  const carried = data.ladders.flatMap((l) => l.steps.filter((s) => s.backlogAtStart > 0).map((s) => `${l.system} r${l.round} @${s.rate}`));
  if (carried.length) out.push('', `Backlog not drained within the wait before: ${carried.join(', ')} (those steps started behind).`);
  return out.join('\n');
}
