/** Latency histograms (HdrHistogram, microsecond resolution) and the generator's own health. */
import * as hdr from 'hdr-histogram-js';
import os from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { round } from './common.ts';

const HIGHEST_US = 120_000_000; // 120 s

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Records milliseconds, stores microseconds; summaries are in milliseconds. */
export class Latency {
  readonly histogram: hdr.Histogram;
  constructor() {
    this.histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3 });
  }

  record(ms: number): void {
    const us = Math.round(ms * 1000);
    this.histogram.recordValue(us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : us);
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  percentile(p: number): number {
    return this.histogram.totalCount ? this.histogram.getValueAtPercentile(p) / 1000 : 0;
  }

  add(other: Latency): void {
    this.histogram.add(other.histogram);
  }

  reset(): void {
    this.histogram.reset();
  }

  summary(): LatencySummary {
    const h = this.histogram;
    if (h.totalCount === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
    return {
      count: h.totalCount,
      p50: round(h.getValueAtPercentile(50) / 1000, 3),
      p95: round(h.getValueAtPercentile(95) / 1000, 3),
      p99: round(h.getValueAtPercentile(99) / 1000, 3),
      max: round(h.maxValue / 1000, 3),
      mean: round(h.mean / 1000, 3),
    };
  }
}

export interface GeneratorHealth {
  eventLoopLagMs: { p50: number; p99: number; max: number };
  /** Share of one core used by this process (user + system), over the run and at the busiest second. */
  cpuPercentOfOneCore: { mean: number; max: number };
  /** 1-minute load average at the end of the run, and the core count: > cores means everyone waited for a CPU. */
  machineLoad: { loadAverage1m: number; cores: number };
  saturated: boolean;
  warnings: string[];
}

export const SATURATION = { lagP99Ms: 20, cpuPercent: 90 } as const;

/** Watches the load generator itself: a saturated generator measures itself, not the server. */
export class GeneratorMonitor {
  /** The histogram records the whole interval between its timer's runs: lag = value - resolution. */
  private static readonly RESOLUTION_MS = 10;
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: GeneratorMonitor.RESOLUTION_MS });
  private startCpu = process.cpuUsage();
  private startAt = performance.now();
  private lastCpu = process.cpuUsage();
  private lastAt = performance.now();
  private maxCpu = 0;
  /** CPU % of one core in the last sampled interval. */
  lastCpuPercent = 0;

  /** (Re)starts measuring: scenarios call it again once their setup is done, so only the load phase counts. */
  start(): void {
    this.loop.disable();
    this.loop.reset();
    this.maxCpu = 0;
    this.loop.enable();
    this.startCpu = this.lastCpu = process.cpuUsage();
    this.startAt = this.lastAt = performance.now();
  }

  /** Call about once a second. */
  sample(): void {
    const cpu = process.cpuUsage();
    const at = performance.now();
    const used = (cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system) / 1000;
    const elapsed = at - this.lastAt;
    if (elapsed > 200) {
      this.lastCpuPercent = (100 * used) / elapsed;
      this.maxCpu = Math.max(this.maxCpu, this.lastCpuPercent);
      this.lastCpu = cpu;
      this.lastAt = at;
    }
  }

  private lag(percentile: number): number {
    if (!this.loop.count) return 0;
    const value = percentile === 100 ? this.loop.max : this.loop.percentile(percentile);
    return Math.max(0, value / 1e6 - GeneratorMonitor.RESOLUTION_MS);
  }

  lagP99Ms(): number {
    return this.lag(99);
  }

  stop(): GeneratorHealth {
    this.sample();
    this.loop.disable();
    const cpu = process.cpuUsage(this.startCpu);
    const elapsed = performance.now() - this.startAt;
    const mean = elapsed > 0 ? (100 * (cpu.user + cpu.system)) / 1000 / elapsed : 0;
    const lag = { p50: round(this.lag(50)), p99: round(this.lag(99)), max: round(this.lag(100)) };
    const warnings: string[] = [];
    const cores = os.cpus().length;
    const load = round(os.loadavg()[0] ?? 0, 2);
    if (lag.p99 > SATURATION.lagP99Ms) {
      // A lagging loop with CPU to spare was waiting for a core: the machine, not the generator, is saturated.
      const starved = mean < 50 && load > cores;
      warnings.push(
        `generator event-loop lag p99 ${lag.p99} ms > ${SATURATION.lagP99Ms} ms` +
          (starved ? ` while using only ${round(mean, 0)}% of a core: starved, the machine is oversubscribed (load average ${load} on ${cores} cores)` : ''),
      );
    }
    if (mean > SATURATION.cpuPercent) warnings.push(`generator CPU ${round(mean, 0)}% of one core > ${SATURATION.cpuPercent}%`);
    return {
      eventLoopLagMs: lag,
      cpuPercentOfOneCore: { mean: round(mean, 1), max: round(this.maxCpu, 1) },
      machineLoad: { loadAverage1m: load, cores },
      saturated: warnings.length > 0,
      warnings,
    };
  }
}
