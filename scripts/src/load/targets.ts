/**
 * pnpm bench:targets — the targets that compare.ts does not cover, each measured in
 * --rounds fresh clusters (embedded PostgreSQL + 2 instances of ours), medians reported:
 *   idle            --big clients (default 10,000) subscribed (rooms of 10), RSS per connection from /proc
 *   connect-storm   --big clients at once
 *   fanout          2000 sends/s, 1000 clients, rooms of 10 (target: send→receive p99 ≤ 10 ms)
 *   resume-storm    --big clients, the instance holding half of them SIGKILLed mid-conversation
 *   history         optional: --history-database-url of a database seeded by seed-history.ts
 *                   (target: p99 ≤ 5 ms on 10M rows), on a cluster started on that database
 * Writes bench-results/targets-<date>.json and prints a markdown table.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { startCluster } from './cluster.ts';
import { repoRoot, round } from './common.ts';
import { defaults, type RunOptions, type Scenario } from './options.ts';
import { runScenario, type Report } from './run.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    big: { type: 'string', default: '10000' },
    'fanout-clients': { type: 'string', default: '1000' },
    'fanout-rate': { type: 'string', default: '2000' },
    duration: { type: 'string', default: '10' },
    'history-database-url': { type: 'string' },
    only: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});
const rounds = Math.min(5, Number(values.rounds));
const big = Number(values.big);
const duration = Number(values.duration);
const only = values.only ? values.only.split(',') : null;
const wanted = (name: string) => !only || only.includes(name);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = path.join('bench-results', `targets-${stamp}`);
const say = (line: string) => process.stderr.write(`${line}\n`);

const results: Record<string, Report[]> = {};
const failures: string[] = [];
const keep = (name: string, report: Report) => (results[name] ??= []).push(report);

async function attempt(name: string, run: () => Promise<Report>): Promise<void> {
  try {
    const report = await run();
    keep(name, report);
    say(`   ${name}: ${JSON.stringify(report.table[0])}`);
  } catch (error) {
    failures.push(`${name}: ${(error as Error).message}`);
    say(`   ${name} FAILED: ${(error as Error).message}`);
  }
}

function base(scenario: Scenario, cluster: { targets: string[]; databaseUrl: string | null }, extra: Partial<RunOptions>): RunOptions {
  return { ...defaults(scenario), targets: cluster.targets, databaseUrl: cluster.databaseUrl ?? undefined, setup: 'db', quiet: values.quiet, outDir, ...extra };
}

for (let roundNo = 1; roundNo <= rounds; roundNo++) {
  say(`\n== round ${roundNo}/${rounds} ==`);
  const cluster = await startCluster({ system: 'ours', instances: 2, quiet: true });
  try {
    if (wanted('idle')) {
      await attempt('idle', () => runScenario(base('idle', cluster, { clients: big, roomSize: 10, holdSec: 10, pids: cluster.pids, connectConcurrency: 500, label: `r${roundNo}` })));
    }
    if (wanted('connect-storm')) {
      await attempt('connect-storm', () => runScenario(base('connect-storm', cluster, { clients: big, connectTimeoutMs: 30_000, label: `r${roundNo}` })));
    }
    if (wanted('fanout')) {
      await attempt('fanout', () =>
        runScenario(base('fanout', cluster, { clients: Number(values['fanout-clients']), roomSize: 10, rate: Number(values['fanout-rate']), durationSec: duration, label: `r${roundNo}` })),
      );
    }
    if (wanted('resume-storm')) {
      await attempt('resume-storm', () =>
        runScenario(
          base('resume-storm', cluster, { clients: big, roomSize: 10, rate: 200, durationSec: 20, killAfterSec: 3, killPid: cluster.pids[0], connectConcurrency: 500, label: `r${roundNo}` }),
        ),
      );
    }
  } finally {
    await cluster.stop();
  }
}

if (values['history-database-url'] && wanted('history')) {
  const url = values['history-database-url'];
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const [target] = await sql<{ id: string; last_seq: string }[]>`
    select c.id, c.last_seq from conversations c join members m on m.conversation_id = c.id and m.user_id = 'hist-a'
    where exists (select 1 from messages x where x.conversation_id = c.id and x.seq = c.last_seq)
    order by c.last_seq desc limit 1`;
  const [counted] = await sql<{ n: string }[]>`select count(*) as n from messages`;
  const n = counted?.n ?? '0';
  await sql.end();
  if (!target) throw new Error('the history database has no seeded conversation (pnpm seed:history)');
  say(`\n== history on ${Number(n).toLocaleString()} messages ==`);
  const cluster = await startCluster({ system: 'ours', instances: 2, databaseUrl: url, quiet: true });
  try {
    for (let roundNo = 1; roundNo <= rounds; roundNo++) {
      await attempt('history', () =>
        runScenario(base('history', cluster, { historyConversation: target.id, historyUser: 'hist-a', historyConnections: 10, durationSec: duration, label: `r${roundNo}` })),
      );
    }
  } finally {
    await cluster.stop();
  }
}

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const med = (name: string, pick: (r: any) => number) => round(median((results[name] ?? []).map((rep) => pick(rep.result))), 3);
const saturated = (name: string) => `${(results[name] ?? []).filter((r) => r.generator.saturated).length}/${(results[name] ?? []).length}`;

const rows: { target: string; goal: string; measured: string; met: string; runs: number; saturated: string }[] = [];
const add = (name: string, target: string, goal: string, value: number, unit: string, met: boolean | null) => {
  if (!results[name]?.length) return;
  rows.push({ target, goal, measured: `${value} ${unit}`, met: met === null ? '-' : met ? 'yes' : `no (${goal.startsWith('≥') ? 'short' : 'over'} by ${round(Math.abs(value - Number(goal.replace(/[^0-9.]/g, ''))), 2)} ${unit})`, runs: results[name]!.length, saturated: saturated(name) });
};
const kib = med('idle', (r) => r.kibPerConnection);
add('idle', `RSS per idle connection at ${big}`, '≤ 8 KiB', kib, 'KiB', kib <= 8);
const connectWall = med('connect-storm', (r) => r.wallMs / 1000);
add('connect-storm', `${big} connects`, '≤ 5 s', connectWall, 's', connectWall <= 5);
add('connect-storm', 'connect latency p99', 'informative', med('connect-storm', (r) => r.connectLatencyMs.p99), 'ms', null);
const p99 = med('fanout', (r) => r.sendReceiveMs.p99);
add('fanout', `send→receive p99 at ${values['fanout-rate']} sends/s`, '≤ 10 ms', p99, 'ms', p99 <= 10);
add('fanout', 'send→ack p99 at that rate', 'informative', med('fanout', (r) => r.sendAckMs.p99), 'ms', null);
const storm = med('resume-storm', (r) => (r.storm.allCaughtUpMs ?? Infinity) / 1000);
add('resume-storm', `resume storm, ${big} clients (half on the killed instance)`, '≤ 10 s', storm, 's', storm <= 10);
const hist = med('history', (r) => r.latencyMs.p99);
add('history', 'history page p99 (seeded database)', '≤ 5 ms', hist, 'ms', hist <= 5);

const date = new Date().toISOString().slice(0, 10);
const file = path.join(repoRoot, 'bench-results', `targets-${date}.json`);
await mkdir(path.dirname(file), { recursive: true });
await writeFile(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), rounds, big, rows, failures, runs: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map((r) => ({ file: r.file, table: r.table, generator: r.generator, problems: r.problems }))])) }, null, 2)}\n`,
);
console.log(`\n| target | goal | median of runs | met | runs | generator saturated |\n|---|---|---:|---|---:|---:|`);
for (const r of rows) console.log(`| ${r.target} | ${r.goal} | ${r.measured} | ${r.met} | ${r.runs} | ${r.saturated} |`);
for (const f of failures) console.log(`\nFAILED: ${f}`);
console.log(`\n${file}`);
process.exit(failures.length ? 1 : 0);
