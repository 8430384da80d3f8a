/**
 * The rate ladder of bench:compare: one fleet (rooms spread over the targets), open-loop sends
 * at each rate of `rates` in turn. Every step: wait for the previous step's backlog to drain
 * (bounded), a warm-up at the new rate (not measured), then a measured window with
 *   - send→receive latency over every receiver (the sender's own echo excluded), send→ack;
 *   - the rate really sent (a step passes only with ≥ `minSentShare` of the target sent and
 *     p99 < `p99TargetMs`);
 *   - CPU from /proc over exactly that window: the box, the system's instances, PostgreSQL,
 *     and this generator (see cpu.ts).
 * Steps continue past a failure until `mustReach` (so the rates the report quotes are always
 * measured), then stop at the first failure.
 */
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { round, sleep } from '../common.ts';
import { cpuMsPer1000Sends, cpuShares, takeCpuSample, ticksPerSecond, type CpuShares, type PgCpuSource } from '../cpu.ts';
import type { Driver } from '../drivers/types.ts';
import { Pacer, rates as windowRates, type MessagingReport } from '../fleet.ts';
import type { RunOptions } from '../options.ts';
import { log } from '../progress.ts';
import { prepareFleet } from './messaging.ts';

export interface LadderOptions {
  rates: number[];
  warmupSec: number;
  stepSec: number;
  /** Keep stepping after failures until this rate has been measured. */
  mustReach: number;
  p99TargetMs: number;
  minSentShare: number;
  /** Longest wait for the previous step's backlog before the next warm-up. */
  drainBetweenMs: number;
  /** The system's server processes (CPU from /proc/<pid>/stat). */
  instancePids: number[];
  pg: PgCpuSource | null;
}

export interface StepResult {
  rate: number;
  pass: boolean;
  /** Deliveries and acks still owed when the warm-up began (should be 0: a backlog carried over). */
  backlogAtStart: number;
  backlogAtEnd: number;
  measuredSec: number;
  sendsPerSec: number;
  sentShare: number;
  acksPerSec: number;
  deliveriesPerSec: number;
  ackMs: { p50: number; p99: number };
  recvMs: { count: number; p50: number; p95: number; p99: number; max: number };
  pacerSkipped: number;
  cpu: CpuShares;
  /** CPU ms per 1,000 sends: the whole box, and the system under test (instances + PostgreSQL). */
  boxCpuMsPer1000: number;
  sutCpuMsPer1000: number | null;
  instancesCpuMsPer1000: number;
  /**
   * Box CPU not charged to the instances, PostgreSQL or the generator (% of a core): other
   * people's processes on a shared box, plus kernel work not charged to a process (softirq:
   * loopback networking). Large values mean the step shared the box.
   */
  restPct: number | null;
  postgresCpuMsPer1000: number | null;
  generatorLagMs: { p50: number; p99: number; max: number };
  loadAverage1m: number;
}

export interface LadderResult {
  steps: StepResult[];
  /** The highest rate that passed with every lower step passing too; null if the first failed. */
  highestPassing: number | null;
  /** Rates that passed above a failed one (noise, or a system that recovers). */
  passesAboveFailure: number[];
  report: MessagingReport;
  outstandingAfterDrain: number;
  createdFrameBytesMean: number | null;
  connectWallMs: number;
}

function lagOf(h: ReturnType<typeof monitorEventLoopDelay>): { p50: number; p99: number; max: number } {
  // The histogram records whole timer intervals: lag = value - resolution (10 ms).
  const ms = (ns: number) => round(Math.max(0, ns / 1e6 - 10), 2);
  return h.count ? { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) } : { p50: 0, p99: 0, max: 0 };
}

export async function ladder(options: RunOptions, driver: Driver, ladderOptions: LadderOptions): Promise<LadderResult> {
  const o = ladderOptions;
  const connectStarted = performance.now();
  const fleet = await prepareFleet(options, driver);
  const connectWallMs = performance.now() - connectStarted;
  const pacer = new Pacer(fleet, 0);
  const hz = ticksPerSecond();
  const cores = os.cpus().length;
  const steps: StepResult[] = [];
  const lag = monitorEventLoopDelay({ resolution: 10 });
  pacer.start();
  try {
    for (const rate of o.rates) {
      const backlogAtStart = await fleet.drain(o.drainBetweenMs);
      pacer.setRate(rate);
      await sleep(o.warmupSec * 1000);
      fleet.takeWindow();
      const skippedBefore = pacer.skipped;
      lag.reset();
      lag.enable();
      const before = await takeCpuSample(o.instancePids, o.pg);
      await sleep(o.stepSec * 1000);
      const w = fleet.takeWindow();
      const after = await takeCpuSample(o.instancePids, o.pg);
      lag.disable();
      pacer.setRate(0);
      const r = windowRates(w);
      const recv = w.sendReceive.summary();
      const ack = w.sendAck.summary();
      const cpu = cpuShares(before, after, hz, cores);
      const sentShare = r.sendsPerSec / rate;
      const pass = recv.count > 0 && recv.p99 < o.p99TargetMs && sentShare >= o.minSentShare;
      const sut = cpu.postgresPct === null ? null : cpu.instancesPct + cpu.postgresPct;
      const step: StepResult = {
        rate,
        pass,
        backlogAtStart,
        backlogAtEnd: fleet.outstanding(),
        measuredSec: round(cpu.seconds, 2),
        sendsPerSec: r.sendsPerSec,
        sentShare: round(sentShare, 4),
        acksPerSec: r.acksPerSec,
        deliveriesPerSec: r.deliveriesPerSec,
        ackMs: { p50: ack.p50, p99: ack.p99 },
        recvMs: { count: recv.count, p50: recv.p50, p95: recv.p95, p99: recv.p99, max: recv.max },
        pacerSkipped: pacer.skipped - skippedBefore,
        cpu: {
          seconds: round(cpu.seconds, 2),
          boxPct: round(cpu.boxPct, 1),
          stealPct: round(cpu.stealPct, 1),
          instancesPct: round(cpu.instancesPct, 1),
          postgresPct: cpu.postgresPct === null ? null : round(cpu.postgresPct, 1),
          generatorPct: round(cpu.generatorPct, 1),
        },
        boxCpuMsPer1000: round(cpuMsPer1000Sends(cpu.boxPct, r.sendsPerSec), 0),
        sutCpuMsPer1000: sut === null ? null : round(cpuMsPer1000Sends(sut, r.sendsPerSec), 0),
        instancesCpuMsPer1000: round(cpuMsPer1000Sends(cpu.instancesPct, r.sendsPerSec), 0),
        restPct: sut === null ? null : round(cpu.boxPct - sut - cpu.generatorPct, 1),
        postgresCpuMsPer1000: cpu.postgresPct === null ? null : round(cpuMsPer1000Sends(cpu.postgresPct, r.sendsPerSec), 0),
        generatorLagMs: lagOf(lag),
        loadAverage1m: round(os.loadavg()[0] ?? 0, 2),
      };
      steps.push(step);
      // Always printed (--quiet hides the per-second progress line only).
      log(
        false,
        `   ${rate}/s: sent ${r.sendsPerSec}/s (${round(100 * sentShare, 1)} %), recv p50 ${recv.p50} p99 ${recv.p99} ms, ` +
          `box ${step.cpu.boxPct} %, instances ${step.cpu.instancesPct} %, pg ${step.cpu.postgresPct ?? '?'} %, generator ${step.cpu.generatorPct} %, rest ${step.restPct ?? '?'} % → ${pass ? 'pass' : 'FAIL'}` +
          (backlogAtStart ? ` (backlog ${backlogAtStart} at start)` : ''),
      );
      if (!pass && rate >= o.mustReach) break;
    }
  } finally {
    pacer.stop();
  }
  const outstandingAfterDrain = await fleet.drain(options.drainMs);
  const report = fleet.report();
  const frames = fleet.createdFrames;
  await fleet.closeAll();
  let highestPassing: number | null = null;
  const passesAboveFailure: number[] = [];
  let failed = false;
  for (const step of steps) {
    if (!step.pass) failed = true;
    else if (failed) passesAboveFailure.push(step.rate);
    else highestPassing = step.rate;
  }
  return {
    steps,
    highestPassing,
    passesAboveFailure,
    report,
    outstandingAfterDrain,
    createdFrameBytesMean: frames.count ? round(frames.bytes / frames.count, 1) : null,
    connectWallMs: round(connectWallMs, 0),
  };
}
