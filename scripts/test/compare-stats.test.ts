/** The arithmetic behind bench:compare's figures: /proc parsing, CPU shares, medians of rounds, the table. */
import { describe, expect, it } from 'vitest';
import { cpuMsPer1000Sends, cpuShares, parseBoxStat, parsePidStat, pgTicksBetween, readPidTimes, type CpuSample } from '../src/load/cpu.ts';
import { renderCompare, type CompareData, type LadderRun } from '../src/load/compare-report.ts';
import { formatNumber, median, medianAndRounds, medianWithNone } from '../src/load/rounds.ts';
import type { StepResult } from '../src/load/scenarios/ladder.ts';

describe('/proc parsing', () => {
  it('reads utime, stime, cutime, cstime and ppid from /proc/<pid>/stat, whatever the command name holds', () => {
    const line = '4242 (node (worker) x) S 4200 4242 4200 0 -1 4194560 1 0 0 0 731 112 9 4 20 0 11 0 5000 1000 2000 18446744073709551615';
    expect(parsePidStat(line)).toEqual({ pid: 4242, ppid: 4200, utime: 731, stime: 112, cutime: 9, cstime: 4 });
  });

  it('reads this process', () => {
    const me = readPidTimes(process.pid)!;
    expect(me.pid).toBe(process.pid);
    expect(me.ppid).toBe(process.ppid);
    expect(me.utime + me.stime).toBeGreaterThan(0);
  });

  it('splits /proc/stat into busy, idle, iowait and steal', () => {
    const box = parseBoxStat('cpu  100 5 50 1000 20 3 7 11 0 0\ncpu0 50 2 25 500 10 1 3 5 0 0\n');
    expect(box).toEqual({ busy: 100 + 5 + 50 + 3 + 7, idle: 1000, iowait: 20, steal: 11, total: 165 + 1000 + 20 + 11 });
  });
});

describe('CPU shares', () => {
  const sample = (at: number, busy: number, total: number, instances: number, generatorUs: number): CpuSample => ({
    at,
    box: { busy, idle: total - busy, iowait: 0, steal: 0, total },
    instances,
    pg: null,
    generatorUs,
  });

  it('gives % of one core for processes and % of all cores for the box', () => {
    // 10 s on 2 cores at 100 ticks/s: 2,000 box ticks, 1,500 of them busy → 150 % of 200 %.
    const shares = cpuShares(sample(0, 0, 0, 0, 0), sample(10_000, 1500, 2000, 600, 2_500_000), 100, 2);
    expect(shares.seconds).toBe(10);
    expect(shares.boxPct).toBeCloseTo(150);
    expect(shares.instancesPct).toBeCloseTo(60); // 6 s of CPU in 10 s
    expect(shares.generatorPct).toBeCloseTo(25); // 2.5 s in 10 s
    expect(shares.postgresPct).toBeNull();
  });

  it('counts PostgreSQL backends that exited between samples through the postmaster\'s reaped time, and new ones in full', () => {
    const before = { perPid: new Map([[1, 100], [2, 50], [3, 40]]), reaped: 10 };
    // pid 3 exited having used 45 ticks in all (5 after the first sample); pid 4 is new with 7.
    const after = { perPid: new Map([[1, 101], [2, 60], [4, 7]]), reaped: 10 + 45 };
    expect(pgTicksBetween(before, after)).toBe(1 + 10 + 7 + 5);
    // Filtered mode (an existing server): no reaped time; the exited backend's last ticks are lost.
    const f = (t: typeof before) => ({ perPid: t.perPid, reaped: null });
    expect(pgTicksBetween(f(before), f(after))).toBe(1 + 10 + 7);
  });

  it('turns a share of a core and a rate into CPU ms per 1,000 sends', () => {
    expect(cpuMsPer1000Sends(150, 1000)).toBe(1500); // 1.5 cores at 1,000/s = 1.5 ms a send
    expect(cpuMsPer1000Sends(60, 2000)).toBe(300);
    expect(cpuMsPer1000Sends(60, 0)).toBeNaN();
  });
});

describe('medians of rounds', () => {
  it('takes the middle value, averaging the middle two of an even count, ignoring non-numbers', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 5, null, 1])).toBe(3);
    expect(median([])).toBeNaN();
  });

  it('ranks "none" below every value', () => {
    expect(medianWithNone([1950, 1800, null])).toBe(1800);
    expect(medianWithNone([null, 1800, null])).toBeNull();
    expect(medianWithNone([2000, null])).toBeNull();
    expect(medianWithNone([2000, 1000])).toBe(1500);
  });

  it('prints the median and the rounds in order', () => {
    expect(medianAndRounds([1950, 1800, null])).toBe('1,800 [1,950 / 1,800 / none]');
    expect(medianAndRounds([7.512, 6.1, 9], { unit: ' ms' })).toBe('7.51 ms [7.51 / 6.1 / 9]');
    expect(formatNumber(2415.4)).toBe('2,415');
    expect(formatNumber(0.4567)).toBe('0.457');
    expect(formatNumber(null)).toBe('none');
  });
});

describe('the compare table', () => {
  const step = (rate: number, pass: boolean, p99: number): StepResult => ({
    rate,
    pass,
    backlogAtStart: 0,
    backlogAtEnd: 0,
    measuredSec: 10,
    sendsPerSec: rate,
    sentShare: 1,
    acksPerSec: rate,
    deliveriesPerSec: rate * 10,
    ackMs: { p50: 1, p99: p99 },
    recvMs: { count: rate * 90, p50: 1, p95: p99 / 2, p99, max: p99 * 2 },
    pacerSkipped: 0,
    cpu: { seconds: 10, boxPct: 100, stealPct: 0, instancesPct: 40, postgresPct: 20, generatorPct: 10 },
    boxCpuMsPer1000: 1000,
    sutCpuMsPer1000: 600,
    instancesCpuMsPer1000: 400,
    postgresCpuMsPer1000: 200,
    restPct: 30,
    generatorLagMs: { p50: 1, p99: 2, max: 3 },
    loadAverage1m: 1,
  });
  const run = (round: number, steps: StepResult[], highestPassing: number | null): LadderRun => ({
    system: 'ours',
    round,
    steps,
    highestPassing,
    passesAboveFailure: [],
    report: { sent: 0, acked: 0, duplicateAcks: 0, retried: 0, sendErrors: {}, deliveries: 0, expectedDeliveries: 0, losses: 0, duplicates: 0, orderingViolations: 0, seqGaps: 0, sendAckMs: { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 }, sendReceiveMs: { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 } },
    outstandingAfterDrain: 0,
    createdFrameBytesMean: 397,
    connectWallMs: 1000,
  });

  it('prints the issue rows as medians with the rounds in brackets', () => {
    const data: CompareData = {
      date: '2026-12-02T00:00:00Z',
      command: 'pnpm bench:compare',
      commit: 'abc1234',
      treeDirty: false,
      settings: { rounds: 3, systems: ['ours'], rates: [1000, 2000], reportRates: [1000, 2000], stepSec: 10, warmupSec: 2, clients: 1000, roomSize: 10, instances: 2, big: null, p99TargetMs: 50, minSentShare: 0.97 },
      machine: { cores: 2, cpu: 'x', memoryGiB: 1, node: 'v20' },
      postgres: { version: 'PostgreSQL 15.20 (Debian) on x86_64', source: 'throwaway' },
      rounds: [],
      ladders: [run(1, [step(1000, true, 20), step(2000, true, 40)], 2000), run(2, [step(1000, false, 80), step(2000, false, 90)], null), run(3, [step(1000, true, 30), step(2000, false, 60)], 1000)],
      connects: [],
      failures: [],
      elapsedSec: 1,
    };
    const text = renderCompare(data);
    expect(text).toContain('| 1,000 [2,000 / none / 1,000] |');
    expect(text).toContain('| p50 / p99 at 2,000 sends/s (ms) | 1 [1 / 1 / 1] / 60 [40 / 90 / 60] |');
    expect(text).toContain('| ours | 1,000 | 2/3 |');
  });
});
