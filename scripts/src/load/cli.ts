/**
 * pnpm load <scenario> [options]     (see --help)
 * Drives real clients against running instances on this machine only (loopback targets).
 */
import { parseArgs } from 'node:util';
import { LIMITS, UsageError } from './common.ts';
import { SCENARIOS, defaults, type RunOptions, type Scenario } from './options.ts';
import { runScenario } from './run.ts';
import { SATURATION } from './stats.ts';

const HELP = `usage: pnpm load <scenario> [options]

scenarios: ${SCENARIOS.join(', ')}
  connect-storm  N clients connect at once: connects/s, connect latency p50/p95/p99, failures
  idle           hold N authenticated sockets: server RSS per connection (/metrics or --pids)
  fanout         rooms of --room-size members spread over the targets, --rate sends/s (or --ramp)
  dm             1:1 pairs, same figures as fanout
  resume-storm   kill one instance mid-conversation (--kill-pid/--kill-cmd); its clients resume elsewhere
  history        HTTP history pages under concurrent load (autocannon)

options:
  --targets URLS           comma-separated ws://127.0.0.1:PORT/ws (loopback only); clients spread round-robin
                           (default: $LOAD_TARGETS, set by bench:cluster --run; --database-url: $LOAD_DATABASE_URL)
  --driver ours|socketio|raw   system under test (socketio: the peer, raw: the ws reference server)
  --clients N              clients (max ${LIMITS.maxClients})
  --room-size K            members per room (fanout, resume-storm; idle: 0 = no rooms)
  --rate R                 total sends per second (max ${LIMITS.maxRate})
  --ramp                   step the rate: --ramp-start, --ramp-step, --ramp-max, --step-seconds, --p99-target (ms, 50)
  --duration S             seconds of load (max ${LIMITS.maxDurationSec}); the ramp stops at this too
  --setup api|db           create users/conversations via the HTTP API (default) or straight in the DB (needs --database-url)
  --database-url URL       loopback Postgres of the system under test (setup db; resume-storm DB load)
  --connect-concurrency N  connects in flight (connect-storm default: all at once)
  --hold S                 idle: seconds to hold before measuring RSS
  --pids P1,P2             idle: server pids in target order (RSS from /proc/<pid>/status)
  --kill-pid PID | --kill-cmd CMD   resume-storm: how to kill the victim; --kill-target I (default 0), --kill-after S
  --conversation ID --user ID       history: an existing conversation and a member (e.g. from seed-history)
  --history-messages N     history: messages to write first when no --conversation (default 1000)
  --connections N          history: HTTP connections over all targets
  --page-size N            history page size (default 50)
  --drain-ms MS            wait this long after sending for the last deliveries
  --label NAME             added to the JSON file name
  --out DIR                JSON report directory (default bench-results/ at the repo root); --no-out: none
  --quiet                  no progress line

Every run is bounded (clients, duration, connect/request timeouts) and stops by itself.
The generator reports its own event-loop lag and CPU; a WARNING means it was saturated
(lag p99 > ${SATURATION.lagP99Ms} ms or CPU > ${SATURATION.cpuPercent}% of one core) and the figures are a floor.`;

function parse(argv: string[]): RunOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      targets: { type: 'string' },
      driver: { type: 'string' },
      clients: { type: 'string' },
      'room-size': { type: 'string' },
      rate: { type: 'string' },
      ramp: { type: 'boolean' },
      'ramp-start': { type: 'string' },
      'ramp-step': { type: 'string' },
      'ramp-max': { type: 'string' },
      'step-seconds': { type: 'string' },
      'p99-target': { type: 'string' },
      duration: { type: 'string' },
      setup: { type: 'string' },
      'database-url': { type: 'string' },
      'connect-concurrency': { type: 'string' },
      'connect-timeout-ms': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      hold: { type: 'string' },
      pids: { type: 'string' },
      'kill-pid': { type: 'string' },
      'kill-cmd': { type: 'string' },
      'kill-target': { type: 'string' },
      'kill-after': { type: 'string' },
      'catch-up-timeout': { type: 'string' },
      conversation: { type: 'string' },
      user: { type: 'string' },
      'history-messages': { type: 'string' },
      connections: { type: 'string' },
      'page-size': { type: 'string' },
      'drain-ms': { type: 'string' },
      label: { type: 'string' },
      out: { type: 'string' },
      'no-out': { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  if (values.help || positionals.length === 0) {
    console.log(HELP);
    process.exit(positionals.length === 0 && !values.help ? 2 : 0);
  }
  const scenario = positionals[0] as Scenario;
  if (!SCENARIOS.includes(scenario)) throw new UsageError(`unknown scenario ${scenario}; one of ${SCENARIOS.join(', ')}`);
  const o = defaults(scenario);
  const num = (name: string, raw: string | undefined, fallback: number): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new UsageError(`--${name}: a number, got ${raw}`);
    return n;
  };
  // Inside `pnpm bench:cluster --run "…"` the cluster's targets, pids and database come as LOAD_* variables.
  const targets = values.targets ?? process.env.LOAD_TARGETS;
  if (targets) o.targets = targets.split(',').map((s) => s.trim()).filter(Boolean);
  values['database-url'] ??= process.env.LOAD_DATABASE_URL || undefined;
  if (values.driver) o.driver = values.driver as RunOptions['driver'];
  o.clients = num('clients', values.clients, o.clients);
  o.roomSize = num('room-size', values['room-size'], o.roomSize);
  o.rate = num('rate', values.rate, o.rate);
  o.ramp = values.ramp ?? false;
  o.rampStart = num('ramp-start', values['ramp-start'], o.rampStart);
  o.rampStep = num('ramp-step', values['ramp-step'], o.rampStep);
  o.rampMax = num('ramp-max', values['ramp-max'], o.rampMax);
  o.stepSec = num('step-seconds', values['step-seconds'], o.stepSec);
  o.p99TargetMs = num('p99-target', values['p99-target'], o.p99TargetMs);
  o.durationSec = num('duration', values.duration, o.ramp && values.duration === undefined ? 120 : o.durationSec);
  if (values.setup) o.setup = values.setup as RunOptions['setup'];
  if (values['database-url']) o.databaseUrl = values['database-url'];
  if (o.databaseUrl && !values.setup && o.clients > 2000) o.setup = 'db';
  o.connectConcurrency = num('connect-concurrency', values['connect-concurrency'], o.connectConcurrency);
  o.connectTimeoutMs = num('connect-timeout-ms', values['connect-timeout-ms'], o.connectTimeoutMs);
  o.requestTimeoutMs = num('request-timeout-ms', values['request-timeout-ms'], o.requestTimeoutMs);
  o.holdSec = num('hold', values.hold, o.holdSec);
  if (values.pids) o.pids = values.pids.split(',').map((p) => Number(p));
  if (values['kill-pid']) o.killPid = num('kill-pid', values['kill-pid'], 0);
  if (values['kill-cmd']) o.killCmd = values['kill-cmd'];
  o.killTarget = num('kill-target', values['kill-target'], o.killTarget);
  o.killAfterSec = num('kill-after', values['kill-after'], o.killAfterSec);
  o.catchUpTimeoutSec = num('catch-up-timeout', values['catch-up-timeout'], o.catchUpTimeoutSec);
  if (values.conversation) o.historyConversation = values.conversation;
  if (values.user) o.historyUser = values.user;
  o.historyMessages = num('history-messages', values['history-messages'], o.historyMessages);
  o.historyConnections = num('connections', values.connections, o.historyConnections);
  o.pageSize = num('page-size', values['page-size'], o.pageSize);
  o.drainMs = num('drain-ms', values['drain-ms'], o.drainMs);
  if (values.label) o.label = values.label;
  if (values.out) o.outDir = values.out;
  if (values['no-out']) o.outDir = null;
  o.quiet = values.quiet ?? false;
  return o;
}

async function main(): Promise<void> {
  let options: RunOptions;
  try {
    options = parse(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`error: ${(error as Error).message}\n(pnpm load --help)`);
      process.exit(2);
    }
    throw error;
  }
  // Watchdog: whatever happens, the run ends.
  const budgetSec = options.durationSec + options.catchUpTimeoutSec + options.drainMs / 1000 + 300;
  setTimeout(() => {
    console.error(`\nwatchdog: the run exceeded ${budgetSec} s; exiting`);
    process.exit(3);
  }, budgetSec * 1000).unref();
  process.on('SIGINT', () => {
    console.error('\ninterrupted');
    process.exit(130);
  });

  let report;
  try {
    report = await runScenario(options);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}\n(pnpm load --help)`);
      process.exit(2);
    }
    throw error;
  }
  console.log(`\n${report.scenario} · driver ${report.driver} · targets ${options.targets.join(', ')}`);
  console.table(report.table);
  const g = report.generator;
  console.log(`generator: event-loop lag p50 ${g.eventLoopLagMs.p50} ms, p99 ${g.eventLoopLagMs.p99} ms; CPU ${g.cpuPercentOfOneCore.mean}% of one core (max ${g.cpuPercentOfOneCore.max}%)`);
  for (const warning of g.warnings) console.log(`WARNING: load generator saturated: ${warning}; the latencies include the generator's own delays, read them as upper bounds.`);
  for (const problem of report.problems) console.log(`PROBLEM: ${problem}`);
  if (report.file) console.log(`report: ${report.file}`);
  process.exit(report.problems.length ? 1 : 0);
}

await main();
