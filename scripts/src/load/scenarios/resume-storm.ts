/**
 * resume-storm: rooms spread over the targets, a steady send rate, then one instance is
 * killed mid-conversation (--kill-pid: SIGKILL; --kill-cmd: a shell command). Its clients
 * reconnect to the surviving targets with their last seqs (resume), retry their unacked sends
 * with the same clientMsgId, and the scenario reports how long until every one of them had
 * caught up (resume ack: the replay precedes it), plus losses/duplicates/ordering over the
 * whole run and the database load of the storm (pg_stat_database xact_commit delta).
 */
import { spawn } from 'node:child_process';
import { now, round, sleep } from '../common.ts';
import type { Driver } from '../drivers/types.ts';
import { Pacer, type Member } from '../fleet.ts';
import type { RunOptions } from '../options.ts';
import { Progress, log } from '../progress.ts';
import { dbCounters, type DbCounters } from '../server-stats.ts';
import { Latency } from '../stats.ts';
import { prepareFleet, progressLine } from './messaging.ts';
import type { ScenarioResult } from './types.ts';
import type { GeneratorMonitor } from '../stats.ts';

async function killVictim(options: RunOptions): Promise<void> {
  if (options.kill) return options.kill();
  if (options.killPid !== undefined) {
    process.kill(options.killPid, 'SIGKILL');
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn('sh', ['-c', options.killCmd!], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`--kill-cmd exited with ${code}`))));
  });
}

export async function resumeStorm(options: RunOptions, driver: Driver, monitor: GeneratorMonitor): Promise<ScenarioResult> {
  const fleet = await prepareFleet(options, driver);
  const survivors = options.targets.map((_, i) => i).filter((i) => i !== options.killTarget);
  let killedAt: number | null = null;
  let affected = 0;
  let caughtUp = 0;
  let reconnectAttempts = 0;
  let notCaughtUp = 0;
  let replayed = 0;
  let unexpectedCloses = 0;
  let lastCaughtUpAt = 0;
  const catchUp = new Latency();
  let cursor = 0;

  const reconnect = async (member: Member) => {
    const deadline = now() + options.catchUpTimeoutSec * 1000;
    while (now() < deadline) {
      const target = survivors[cursor++ % survivors.length]!;
      reconnectAttempts++;
      if (await fleet.connect(member, target)) {
        try {
          const result = await fleet.subscribe(member);
          replayed += result.replayed;
          for (const c of result.conversations) {
            if (c.lastSeq !== null && (member.seqs.get(c.id)?.last ?? 0) < c.lastSeq) notCaughtUp++;
          }
          const at = now();
          catchUp.record(at - killedAt!);
          lastCaughtUpAt = Math.max(lastCaughtUpAt, at);
          caughtUp++;
          member.reconnecting = false;
          fleet.retryPending(member);
          return;
        } catch {
          member.client?.terminate();
        }
      }
      await sleep(50 + Math.random() * 150);
    }
  };

  fleet.onMemberClosed = (member) => {
    if (killedAt === null) {
      unexpectedCloses++;
      return;
    }
    if (member.reconnecting) return;
    member.reconnecting = true;
    affected++;
    void reconnect(member);
  };

  const pacer = new Pacer(fleet, options.rate);
  const progress = new Progress(
    'resume-storm',
    () => `${killedAt === null ? 'before kill' : `caught up ${caughtUp}/${affected}`}  ${progressLine(fleet, pacer, () => monitor.lagP99Ms(), () => monitor.lastCpuPercent)()}`,
    options.quiet,
    () => monitor.sample(),
  );
  const started = now();
  progress.start();
  let before: DbCounters | null = null;
  let after: DbCounters | null = null;
  monitor.start();
  pacer.start();
  await sleep(options.killAfterSec * 1000);
  if (options.databaseUrl) before = await dbCounters(options.databaseUrl);
  const onVictim = fleet.members.filter((m) => m.user.target === options.killTarget).length;
  log(options.quiet, `\nkilling target ${options.killTarget} (${options.targets[options.killTarget]}), ${onVictim} clients on it`);
  killedAt = now();
  await killVictim(options);
  // Everyone on the victim must notice the drop, reconnect and catch up.
  const catchUpDeadline = killedAt + options.catchUpTimeoutSec * 1000;
  while (now() < catchUpDeadline && (affected < onVictim || caughtUp < affected)) await sleep(20);
  const allCaughtUpMs = caughtUp === onVictim ? round(lastCaughtUpAt - killedAt, 1) : null;
  if (options.databaseUrl) after = await dbCounters(options.databaseUrl);
  const remaining = options.durationSec * 1000 - (now() - started);
  if (remaining > 0) await sleep(remaining);
  pacer.stop();
  const sendSeconds = (now() - started) / 1000;
  const outstanding = await fleet.drain(options.drainMs);
  progress.stop();
  const report = fleet.report();
  await fleet.closeAll();

  const db =
    before && after
      ? {
          windowMs: round(after.at - before.at, 1),
          xactCommitDelta: after.xactCommit - before.xactCommit,
          xactRollbackDelta: after.xactRollback - before.xactRollback,
          xactPerSec: round(((after.xactCommit - before.xactCommit) * 1000) / (after.at - before.at), 1),
          tupReturnedDelta: after.tupReturned - before.tupReturned,
          tupFetchedDelta: after.tupFetched - before.tupFetched,
        }
      : null;
  const storm = {
    victimTarget: options.targets[options.killTarget],
    clientsOnVictim: onVictim,
    reconnected: affected,
    caughtUp,
    reconnectAttempts,
    allCaughtUpMs,
    catchUpMs: catchUp.summary(),
    replayedEvents: replayed,
    conversationsBehindAtResumeAck: notCaughtUp,
    unexpectedClosesBeforeKill: unexpectedCloses,
  };
  const problems: string[] = [];
  if (caughtUp < onVictim) problems.push(`${onVictim - caughtUp} clients did not catch up within ${options.catchUpTimeoutSec} s`);
  if (report.losses) problems.push(`${report.losses} deliveries lost`);
  if (report.duplicates) problems.push(`${report.duplicates} duplicate deliveries`);
  if (report.orderingViolations) problems.push(`${report.orderingViolations} ordering violations`);
  if (report.seqGaps) problems.push(`${report.seqGaps} seq gaps`);
  return {
    result: {
      clients: options.clients,
      roomSize: options.roomSize,
      rate: options.rate,
      sendSeconds: round(sendSeconds, 2),
      outstandingAfterDrain: outstanding,
      storm,
      database: db,
      ...report,
    },
    table: [
      {
        'on victim': onVictim,
        'caught up': caughtUp,
        'all caught up ms': allCaughtUpMs,
        'catch-up p50': storm.catchUpMs.p50,
        'catch-up p99': storm.catchUpMs.p99,
        replayed,
        'xact commits': db?.xactCommitDelta ?? '-',
        'xact/s': db?.xactPerSec ?? '-',
        lost: report.losses,
        dup: report.duplicates,
        'order viol.': report.orderingViolations,
        'seq gaps': report.seqGaps,
      },
    ],
    problems,
  };
}
