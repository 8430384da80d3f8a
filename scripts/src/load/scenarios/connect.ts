/** connect-storm and idle. */
import { round, sleep } from '../common.ts';
import { Fleet } from '../fleet.ts';
import type { RunOptions } from '../options.ts';
import { Progress, log } from '../progress.ts';
import { scrapeGauges, serverRss } from '../server-stats.ts';

const HEAP_GAUGES = ['nodejs_heap_size_used_bytes', 'nodejs_external_memory_bytes'];
import { createPopulation } from '../setup.ts';
import type { Driver } from '../drivers/types.ts';
import type { ScenarioResult } from './types.ts';
import type { GeneratorMonitor } from '../stats.ts';

function fleetFor(driver: Driver, options: RunOptions, population: Awaited<ReturnType<typeof createPopulation>>): Fleet {
  return new Fleet(driver, options.targets, population, {
    requestTimeoutMs: options.requestTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
    maxInflightPerClient: options.maxInflightPerClient,
  });
}

/** N clients connect at once; connects/s, upgrade→ready latency, failures. */
export async function connectStorm(options: RunOptions, driver: Driver, monitor: GeneratorMonitor): Promise<ScenarioResult> {
  // Users need not exist beforehand: the service upserts a token's user on its first connect
  // (part of what a first connect costs). The Socket.IO peer reads memberships from the database.
  const population = await createPopulation({
    clients: options.clients,
    roomSize: 0,
    targets: options.targets,
    mode: options.driver === 'socketio' ? 'db' : 'local',
    databaseUrl: options.databaseUrl,
    secret: options.secret,
  });
  const fleet = fleetFor(driver, options, population);
  monitor.start();
  const progress = new Progress('connect-storm', () => `connected ${fleet.connectLatency.count}/${options.clients}`, options.quiet, () => monitor.sample());
  progress.start();
  // Bounded by the per-client connect timeout.
  const outcome = await fleet.connectAll(options.connectConcurrency, false);
  progress.stop();
  const latency = fleet.connectLatency.summary();
  await fleet.closeAll();
  const connectsPerSec = round(outcome.connected / (outcome.wallMs / 1000), 1);
  return {
    result: {
      clients: options.clients,
      connected: outcome.connected,
      failed: outcome.failed,
      failures: fleet.connectFailures,
      wallMs: round(outcome.wallMs, 1),
      connectsPerSec,
      connectLatencyMs: latency,
    },
    table: [
      {
        clients: options.clients,
        connected: outcome.connected,
        failed: outcome.failed,
        'wall s': round(outcome.wallMs / 1000, 2),
        'connects/s': connectsPerSec,
        'p50 ms': latency.p50,
        'p95 ms': latency.p95,
        'p99 ms': latency.p99,
        'max ms': latency.max,
      },
    ],
  };
}

/** Holds N authenticated, subscribed sockets; server RSS per connection from before/after. */
export async function idle(options: RunOptions, driver: Driver, monitor: GeneratorMonitor): Promise<ScenarioResult> {
  const population = await createPopulation({
    clients: options.clients,
    roomSize: options.roomSize,
    targets: options.targets,
    mode: options.setup,
    databaseUrl: options.databaseUrl,
    secret: options.secret,
  });
  const fleet = fleetFor(driver, options, population);
  const before = await serverRss(options.targets, options.pids);
  const heapBefore = options.driver === 'ours' ? await scrapeGauges(options.targets, HEAP_GAUGES) : null;
  log(options.quiet, `server RSS before: ${before.map((b) => `${round(b / 2 ** 20, 1)} MiB`).join(', ')}`);
  const progress = new Progress('idle', () => `connected ${fleet.connected}/${options.clients}`, options.quiet, () => monitor.sample());
  progress.start();
  const outcome = await fleet.connectAll(options.connectConcurrency, true);
  monitor.start(); // the generator's health while holding (the connect burst is connect-storm's business)
  const holdMs = Math.min(options.holdSec, options.durationSec) * 1000;
  await sleep(holdMs);
  const after = await serverRss(options.targets, options.pids);
  const heapAfter = heapBefore ? await scrapeGauges(options.targets, HEAP_GAUGES) : null;
  const stillOpen = fleet.connected;
  progress.stop();
  await fleet.closeAll();
  const perTarget = options.targets.map((target, i) => {
    const connections = population.users.filter((u) => u.target === i).length;
    const delta = after[i]! - before[i]!;
    return { target, connections, rssBeforeBytes: before[i]!, rssAfterBytes: after[i]!, bytesPerConnection: round(delta / Math.max(1, connections), 0) };
  });
  const totalDelta = after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0);
  const bytesPerConnection = round(totalDelta / Math.max(1, outcome.connected), 0);
  return {
    result: {
      clients: options.clients,
      connected: outcome.connected,
      stillOpenAfterHold: stillOpen,
      failures: fleet.connectFailures,
      holdSec: holdMs / 1000,
      rssSource: options.pids.length ? '/proc/<pid>/status VmRSS' : '/metrics process_resident_memory_bytes',
      perTarget,
      bytesPerConnection,
      kibPerConnection: round(bytesPerConnection / 1024, 2),
      // Where the RSS goes (ours): V8 heap in use and external (Buffers) per connection, over all targets.
      heapUsedKibPerConnection: heapBefore && heapAfter ? round((heapAfter.nodejs_heap_size_used_bytes! - heapBefore.nodejs_heap_size_used_bytes!) / 1024 / Math.max(1, outcome.connected), 2) : null,
      externalKibPerConnection: heapBefore && heapAfter ? round((heapAfter.nodejs_external_memory_bytes! - heapBefore.nodejs_external_memory_bytes!) / 1024 / Math.max(1, outcome.connected), 2) : null,
      generatorRssBytes: process.memoryUsage().rss,
    },
    table: perTarget.map((t) => ({
      target: t.target,
      connections: t.connections,
      'RSS before MiB': round(t.rssBeforeBytes / 2 ** 20, 1),
      'RSS after MiB': round(t.rssAfterBytes / 2 ** 20, 1),
      'KiB/conn': round(t.bytesPerConnection / 1024, 2),
    })),
  };
}
