/** Options of a load run, their defaults and their bounds. */
import { LIMITS, UsageError, assertLoopbackUrl, clamp } from './common.ts';
import type { DriverName } from './drivers/types.ts';
import type { SetupMode } from './setup.ts';

export const SCENARIOS = ['connect-storm', 'idle', 'fanout', 'dm', 'resume-storm', 'history'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface RunOptions {
  scenario: Scenario;
  driver: DriverName;
  targets: string[];
  clients: number;
  roomSize: number;
  /** Total sends per second (fanout, dm, resume-storm). */
  rate: number;
  ramp: boolean;
  rampStart: number;
  rampStep: number;
  rampMax: number;
  stepSec: number;
  /** The send→receive p99 the ramp must stay under, ms. */
  p99TargetMs: number;
  durationSec: number;
  setup: SetupMode;
  databaseUrl?: string | undefined;
  connectConcurrency: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  maxInflightPerClient: number;
  drainMs: number;
  /** idle: seconds to hold the sockets before measuring RSS. */
  holdSec: number;
  /** idle: server pids, in target order (RSS from /proc instead of /metrics). */
  pids: number[];
  /** resume-storm */
  killPid?: number | undefined;
  killCmd?: string | undefined;
  killTarget: number;
  killAfterSec: number;
  catchUpTimeoutSec: number;
  /** history */
  historyConnections: number;
  historyConversation?: string | undefined;
  historyUser?: string | undefined;
  historyMessages: number;
  pageSize: number;
  quiet: boolean;
  /** Directory for the JSON report; null: do not write one. */
  outDir: string | null;
  label?: string | undefined;
  /** Programmatic only: the secret tokens are minted with (default: the service's). */
  secret?: string | undefined;
  /** Programmatic only: how resume-storm kills the victim (tests kill an in-process instance). */
  kill?: (() => Promise<void>) | undefined;
}

export function defaults(scenario: Scenario): RunOptions {
  return {
    scenario,
    driver: 'ours',
    targets: ['ws://127.0.0.1:4000/ws'],
    clients: scenario === 'dm' ? 200 : scenario === 'connect-storm' || scenario === 'idle' ? 1000 : 100,
    roomSize: scenario === 'dm' ? 2 : scenario === 'idle' || scenario === 'connect-storm' ? 0 : 10,
    rate: scenario === 'resume-storm' ? 200 : 1000,
    ramp: false,
    rampStart: 500,
    rampStep: 500,
    rampMax: 20_000,
    stepSec: 5,
    p99TargetMs: 50,
    durationSec: scenario === 'resume-storm' ? 15 : 10,
    setup: 'api',
    connectConcurrency: scenario === 'connect-storm' ? Number.MAX_SAFE_INTEGER : 200,
    connectTimeoutMs: 15_000,
    requestTimeoutMs: 10_000,
    maxInflightPerClient: 100,
    drainMs: 5000,
    holdSec: 5,
    pids: [],
    killTarget: 0,
    killAfterSec: 3,
    catchUpTimeoutSec: 30,
    historyConnections: 10,
    historyMessages: 1000,
    pageSize: 50,
    quiet: false,
    outDir: 'bench-results',
  };
}

/** Applies the bounds and the loopback rule; throws UsageError on nonsense. */
export function validate(options: RunOptions): RunOptions {
  if (!SCENARIOS.includes(options.scenario)) throw new UsageError(`unknown scenario ${options.scenario}; one of ${SCENARIOS.join(', ')}`);
  if (!['ours', 'socketio', 'raw'].includes(options.driver)) throw new UsageError(`--driver must be ours, socketio or raw`);
  if (options.targets.length === 0) throw new UsageError('--targets: at least one');
  for (const t of options.targets) {
    const url = assertLoopbackUrl(t);
    if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) throw new UsageError(`target ${t}: ws:// or http:// URL expected`);
  }
  if (options.databaseUrl) assertLoopbackUrl(options.databaseUrl, '--database-url');
  if (options.driver === 'socketio' && options.setup === 'api') {
    if (!options.databaseUrl) throw new UsageError('--driver socketio has no HTTP API: pass --database-url (setup in the database)');
    options.setup = 'db';
  }
  if (options.driver === 'raw') options.setup = 'local';
  if (options.setup === 'db' && !options.databaseUrl) throw new UsageError('--setup db needs --database-url');
  if (options.driver !== 'ours' && !['fanout', 'dm', 'idle', 'connect-storm'].includes(options.scenario)) {
    throw new UsageError(`${options.scenario} runs with --driver ours only`);
  }
  if (!Number.isInteger(options.clients) || options.clients < 1) throw new UsageError('--clients: a positive integer');
  if (options.clients > LIMITS.maxClients) throw new UsageError(`--clients is capped at ${LIMITS.maxClients}`);
  if (options.durationSec <= 0 || options.durationSec > LIMITS.maxDurationSec) throw new UsageError(`--duration: 1..${LIMITS.maxDurationSec} s`);
  if (options.rate < 0 || options.rate > LIMITS.maxRate) throw new UsageError(`--rate: 0..${LIMITS.maxRate}`);
  options.rampMax = clamp(options.rampMax, 1, LIMITS.maxRate);
  if (options.roomSize > LIMITS.maxRoomSize) throw new UsageError(`--room-size is capped at ${LIMITS.maxRoomSize}`);
  if (options.scenario === 'dm') options.roomSize = 2;
  if (['fanout', 'resume-storm'].includes(options.scenario)) {
    if (options.roomSize < 2) throw new UsageError('--room-size: at least 2');
    if (options.clients < options.roomSize) throw new UsageError('--clients must be at least --room-size');
  }
  if (options.scenario === 'resume-storm') {
    if (options.targets.length < 2) throw new UsageError('resume-storm needs at least two --targets (clients move to the others)');
    if (!options.kill && options.killPid === undefined && !options.killCmd) throw new UsageError('resume-storm needs --kill-pid or --kill-cmd');
    if (options.killTarget < 0 || options.killTarget >= options.targets.length) throw new UsageError('--kill-target: an index into --targets');
  }
  if (options.pids.length && options.pids.length !== options.targets.length) throw new UsageError('--pids: one per target, in the same order');
  options.connectConcurrency = Math.max(1, Math.min(options.connectConcurrency, options.clients));
  options.historyConnections = clamp(options.historyConnections, 1, 1000);
  return options;
}
