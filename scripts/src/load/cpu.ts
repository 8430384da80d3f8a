/**
 * CPU accounting from /proc, for the figures beside each load step: the box (/proc/stat), the
 * system's instances (/proc/<pid>/stat) and the PostgreSQL server (its postmaster and children).
 * Linux only; everything is in clock ticks (USER_HZ, 100 on Linux) until `cpuShares` turns
 * differences into "% of one core" (200 % = both cores of a 2-core box).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import type postgres from 'postgres';

export interface PidTimes {
  pid: number;
  ppid: number;
  /** User and system ticks of the process itself. */
  utime: number;
  stime: number;
  /** Ticks of its children that it has waited for (exited, reaped). */
  cutime: number;
  cstime: number;
}

/** Parses /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses. */
export function parsePidStat(text: string): PidTimes {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 60)}`);
  const pid = Number(text.slice(0, text.indexOf(' ')));
  // After ")": field 3 (state) is rest[0], so field N is rest[N - 3].
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const field = (n: number) => Number(rest[n - 3]);
  return { pid, ppid: field(4), utime: field(14), stime: field(15), cutime: field(16), cstime: field(17) };
}

export interface BoxTimes {
  /** user + nice + system + irq + softirq: ticks some process or the kernel ran. */
  busy: number;
  idle: number;
  iowait: number;
  /** Ticks the hypervisor gave to someone else while we wanted to run. */
  steal: number;
  total: number;
}

/** Parses the aggregate `cpu` line of /proc/stat (guest time is already inside user/nice). */
export function parseBoxStat(text: string): BoxTimes {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no aggregate cpu line in /proc/stat');
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq;
  return { busy, idle, iowait, steal, total: busy + idle + iowait + steal };
}

export function readPidTimes(pid: number): PidTimes | null {
  try {
    return parsePidStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // gone
  }
}

export function readBoxTimes(): BoxTimes {
  return parseBoxStat(readFileSync('/proc/stat', 'utf8'));
}

let ticks: number | null = null;
/** USER_HZ (`getconf CLK_TCK`); 100 on every Linux this runs on. */
export function ticksPerSecond(): number {
  if (ticks === null) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** All processes whose parent is `ppid` (one pass over /proc). */
export function childrenOf(ppid: number): PidTimes[] {
  const out: PidTimes[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const times = readPidTimes(Number(name));
    if (times && times.ppid === ppid) out.push(times);
  }
  return out;
}

/**
 * How a PostgreSQL server's CPU is counted.
 * - 'tree' (a server this benchmark started, nothing else uses it): the postmaster, its
 *   live children, and the children it reaped (cutime/cstime). Exact across sampling points:
 *   a backend that exits between two samples moves from "live" into the postmaster's cutime.
 * - 'filtered' (an existing server others may use): the postmaster and its live children,
 *   minus client backends of other databases. Backends that exit between two samples lose
 *   their CPU in between (the benchmark's own connections live across a whole step).
 */
export type PgCpuMode = 'tree' | 'filtered';

export interface PgCpuSource {
  postmaster: number;
  mode: PgCpuMode;
  /** PIDs of client backends to leave out (other databases), refreshed at each sample. */
  exclude(): Promise<Set<number>>;
}

/** Finds the postmaster of the server behind `sql` (it must run on this machine). */
export async function pgCpuSource(sql: postgres.Sql, mode: PgCpuMode): Promise<PgCpuSource | null> {
  const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  const backend = readPidTimes(row!.pid);
  if (!backend) return null; // another PID namespace or another machine: no /proc view of it
  return {
    postmaster: backend.ppid,
    mode,
    async exclude() {
      if (mode === 'tree') return new Set();
      const rows = await sql<{ pid: number }[]>`
        select pid from pg_stat_activity where backend_type = 'client backend' and datname is distinct from current_database()`;
      return new Set(rows.map((r) => r.pid));
    },
  };
}

/** Ticks charged to the server so far, per live process (pid → ticks), plus reaped children. */
export interface PgTicks {
  perPid: Map<number, number>;
  /** The postmaster's reaped children (tree mode); null when not counted (filtered mode). */
  reaped: number | null;
}

export async function readPgTicks(source: PgCpuSource): Promise<PgTicks | null> {
  const exclude = await source.exclude();
  const master = readPidTimes(source.postmaster);
  if (!master) return null;
  const perPid = new Map<number, number>([[master.pid, master.utime + master.stime]]);
  for (const child of childrenOf(source.postmaster)) if (!exclude.has(child.pid)) perPid.set(child.pid, child.utime + child.stime);
  return { perPid, reaped: source.mode === 'tree' ? master.cutime + master.cstime : null };
}

/**
 * Ticks between two samples: processes present in both count their growth, new ones all of
 * theirs. In tree mode a process gone by the second sample was reaped, so its whole life is
 * in the growth of `reaped`, minus what it had at the first sample; in filtered mode its
 * ticks after the first sample are lost (not counted).
 */
export function pgTicksBetween(before: PgTicks, after: PgTicks): number {
  let sum = 0;
  for (const [pid, t] of after.perPid) sum += t - (before.perPid.get(pid) ?? 0);
  if (before.reaped !== null && after.reaped !== null) {
    sum += after.reaped - before.reaped;
    for (const [pid, t] of before.perPid) if (!after.perPid.has(pid)) sum -= t;
  }
  return sum;
}

export interface CpuSample {
  at: number;
  box: BoxTimes;
  instances: number;
  pg: PgTicks | null;
  /** This process (the load generator): microseconds from process.cpuUsage. */
  generatorUs: number;
}

export async function takeCpuSample(instancePids: number[], pg: PgCpuSource | null): Promise<CpuSample> {
  const usage = process.cpuUsage();
  let instances = 0;
  for (const pid of instancePids) {
    const t = readPidTimes(pid);
    if (t) instances += t.utime + t.stime + t.cutime + t.cstime;
  }
  return { at: performance.now(), box: readBoxTimes(), instances, pg: pg ? await readPgTicks(pg) : null, generatorUs: usage.user + usage.system };
}

export interface CpuShares {
  seconds: number;
  /** % of one core; the box's figure spans all cores (200 % = both of 2). */
  boxPct: number;
  stealPct: number;
  instancesPct: number;
  postgresPct: number | null;
  generatorPct: number;
}

/** Turns two samples into shares of one core over the interval between them. */
export function cpuShares(a: CpuSample, b: CpuSample, hz: number, cores: number): CpuShares {
  const seconds = (b.at - a.at) / 1000;
  const pct = (ticks: number) => (100 * ticks) / hz / seconds;
  const boxTotal = b.box.total - a.box.total;
  const share = (ticks: number) => (boxTotal > 0 ? (100 * cores * ticks) / boxTotal : 0);
  return {
    seconds,
    boxPct: share(b.box.busy - a.box.busy),
    stealPct: share(b.box.steal - a.box.steal),
    instancesPct: pct(b.instances - a.instances),
    postgresPct: a.pg && b.pg ? pct(pgTicksBetween(a.pg, b.pg)) : null,
    generatorPct: (100 * (b.generatorUs - a.generatorUs)) / 1e6 / seconds,
  };
}

/** CPU milliseconds spent per 1,000 sends, from a share of one core (%) and a send rate. */
export function cpuMsPer1000Sends(percentOfOneCore: number, sendsPerSec: number): number {
  return sendsPerSec > 0 ? (percentOfOneCore * 10 * 1000) / sendsPerSec : NaN;
}

export const cores = () => os.cpus().length;
