/**
 * fanout (rooms of K spread over the targets) and dm (1:1 pairs): a fixed total send rate for
 * the duration, or --ramp: steps the rate up and reports the highest one whose send→receive
 * p99 stayed under the target (50 ms) with every message delivered.
 */
import { now, round, sleep } from '../common.ts';
import type { Driver } from '../drivers/types.ts';
import { Fleet, Pacer, rates } from '../fleet.ts';
import type { RunOptions } from '../options.ts';
import { Progress, log } from '../progress.ts';
import { createPopulation } from '../setup.ts';
import { histogramMeans, scrapeHistograms } from '../server-stats.ts';
import type { ScenarioResult } from './types.ts';
import type { GeneratorMonitor } from '../stats.ts';

export async function prepareFleet(options: RunOptions, driver: Driver): Promise<Fleet> {
  const setupStarted = now();
  const population = await createPopulation({
    clients: options.clients,
    roomSize: options.roomSize,
    direct: options.scenario === 'dm',
    targets: options.targets,
    mode: options.setup,
    databaseUrl: options.databaseUrl,
    secret: options.secret,
  });
  log(options.quiet, `setup (${options.setup}): ${population.users.length} users, ${population.rooms.length} conversations in ${round((now() - setupStarted) / 1000, 2)} s`);
  const fleet = new Fleet(driver, options.targets, population, {
    requestTimeoutMs: options.requestTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
    maxInflightPerClient: options.maxInflightPerClient,
  });
  const connected = await fleet.connectAll(options.connectConcurrency, true);
  log(options.quiet, `connected ${connected.connected}/${options.clients} in ${round(connected.wallMs / 1000, 2)} s`);
  if (connected.failed > 0) throw new Error(`${connected.failed} clients could not connect: ${JSON.stringify(fleet.connectFailures)}`);
  fleet.startSweeper();
  return fleet;
}

export function progressLine(fleet: Fleet, pacer: Pacer | null, lagP99: () => number, cpu: () => number): () => string {
  let last = { sent: 0, deliveries: 0, at: now() };
  return () => {
    const c = fleet.counts;
    const seconds = (now() - last.at) / 1000;
    const line =
      `rate ${pacer ? pacer.rate : 0}/s  sent ${round((c.sent - last.sent) / seconds, 0)}/s  ` +
      `recv ${round((c.deliveries - last.deliveries) / seconds, 0)}/s  ` +
      `ack p99 ${fleet.window.sendAck.summary().p99} ms  recv p99 ${fleet.window.sendReceive.summary().p99} ms  ` +
      `conn ${fleet.connected}  outstanding ${fleet.outstanding()}  lag p99 ${round(lagP99(), 1)} ms  cpu ${round(cpu(), 0)}%`;
    last = { sent: c.sent, deliveries: c.deliveries, at: now() };
    return line;
  };
}

export async function messaging(options: RunOptions, driver: Driver, monitor: GeneratorMonitor): Promise<ScenarioResult> {
  const fleet = await prepareFleet(options, driver);
  const pacer = new Pacer(fleet, options.ramp ? options.rampStart : options.rate);
  const progress = new Progress(options.scenario, progressLine(fleet, pacer, () => monitor.lagP99Ms(), () => monitor.lastCpuPercent), options.quiet, () => monitor.sample());
  const steps: Record<string, unknown>[] = [];
  let best: number | null = null;
  /** True when a step went over the target; false: the ramp ran out of time or --ramp-max first. */
  let ceilingFound = false;
  const serverBefore = options.driver === 'ours' ? await scrapeHistograms(options.targets) : null;
  const started = now();
  progress.start();
  monitor.start();
  try {
    pacer.start();
    fleet.takeWindow();
    if (!options.ramp) {
      await sleep(options.durationSec * 1000);
    } else {
      // Each step: 1 s to settle (not measured), then stepSec - 1 s measured.
      for (let rate = options.rampStart; rate <= options.rampMax; rate += options.rampStep) {
        if ((now() - started) / 1000 + options.stepSec > options.durationSec) break;
        pacer.setRate(rate);
        await sleep(1000);
        fleet.takeWindow();
        await sleep(Math.max(1, options.stepSec - 1) * 1000);
        const w = fleet.takeWindow();
        const r = rates(w);
        const recv = w.sendReceive.summary();
        const ack = w.sendAck.summary();
        const behind = fleet.outstanding();
        // Under the target: p99 below it, the generator really sent the rate, and acks kept up.
        const ok = recv.count > 0 && recv.p99 < options.p99TargetMs && r.sendsPerSec >= 0.9 * rate && r.acksPerSec >= 0.9 * r.sendsPerSec;
        steps.push({ rate, ok, ...r, 'ack p50': ack.p50, 'ack p99': ack.p99, 'recv p50': recv.p50, 'recv p95': recv.p95, 'recv p99': recv.p99, outstanding: behind });
        log(options.quiet, `\nstep ${rate}/s: sent ${r.sendsPerSec}/s, recv p99 ${recv.p99} ms → ${ok ? 'ok' : 'over'}`);
        if (!ok) {
          ceilingFound = true;
          break;
        }
        best = rate;
      }
    }
  } finally {
    pacer.stop();
  }
  const sendSeconds = (now() - started) / 1000;
  const outstanding = await fleet.drain(options.drainMs);
  progress.stop();
  const report = fleet.report();
  const serverAfter = serverBefore ? await scrapeHistograms(options.targets) : null;
  await fleet.closeAll();
  const result: Record<string, unknown> = {
    clients: options.clients,
    roomSize: options.roomSize,
    conversations: fleet.population.rooms.length,
    targetRate: options.ramp ? null : options.rate,
    sendSeconds: round(sendSeconds, 2),
    sendsPerSec: round(report.sent / sendSeconds, 1),
    deliveriesPerSec: round(report.deliveries / sendSeconds, 1),
    pacerSkipped: pacer.skipped,
    outstandingAfterDrain: outstanding,
    ...report,
    // ours only: what the instances' own histograms say (means over the run, all targets).
    server: histogramMeans(serverBefore, serverAfter),
  };
  if (options.ramp) {
    result.ramp = { p99TargetMs: options.p99TargetMs, stepSec: options.stepSec, steps, maxRateUnderTarget: best, ceilingFound };
  }
  const problems: string[] = [];
  if (report.losses) problems.push(`${report.losses} deliveries lost`);
  if (report.duplicates) problems.push(`${report.duplicates} duplicate deliveries`);
  if (report.orderingViolations) problems.push(`${report.orderingViolations} ordering violations`);
  const errors = Object.values(report.sendErrors).reduce((a, b) => a + b, 0);
  if (errors) problems.push(`${errors} send errors ${JSON.stringify(report.sendErrors)}`);
  const table = options.ramp
    ? steps
    : [
        {
          'rate target': options.rate,
          'sends/s': result.sendsPerSec,
          'deliveries/s': result.deliveriesPerSec,
          'ack p50': report.sendAckMs.p50,
          'ack p95': report.sendAckMs.p95,
          'ack p99': report.sendAckMs.p99,
          'recv p50': report.sendReceiveMs.p50,
          'recv p95': report.sendReceiveMs.p95,
          'recv p99': report.sendReceiveMs.p99,
          lost: report.losses,
          dup: report.duplicates,
          'order viol.': report.orderingViolations,
          errors,
        },
      ];
  return { result, table, problems };
}
