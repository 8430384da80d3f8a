/**
 * The push job queue: graphile-worker on the service's own PostgreSQL. Every instance with
 * push configured runs a worker; a job is taken by one worker at a time (row locks with SKIP
 * LOCKED), so work is shared across instances without duplicates, and a job enqueued by an
 * instance that stopped is run by another. Jobs are enqueued in SQL, by the send statement's
 * trigger (migration 0007), in the transaction that commits the message.
 *
 * Crash recovery: graphile-worker hands a job whose worker died mid-run to another only after
 * 4 hours. So each instance holds a session advisory lock named after its worker pool on a
 * connection of its own (the lease), and every SWEEP_MS looks at the pools that hold jobs: a
 * pool whose lease it can take is dead (PostgreSQL released the lock with its connection), and
 * its jobs are unlocked at once (graphile-worker's forceUnlockWorkers), to be retried anywhere.
 * A pool wrongly judged dead (its lease connection dropped while it worked) only means a job
 * may run twice at once, which the per-device delivery lock makes harmless (db/push.ts).
 */
import type { Database } from '@chat/db';
import { EventEmitter } from 'node:events';
import { Logger as WorkerLogger, makeWorkerUtils, run, runMigrations, type Runner, type TaskList, type WorkerEvents, type WorkerUtils } from 'graphile-worker';
import postgres, { type Sql } from 'postgres';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { PushConfig } from '../config.ts';
import { isNotifyPayload, NOTIFY_TASK, runNotify, type PushMetrics } from './notify.ts';

export interface PushWorkerOptions {
  databaseUrl: string;
  log: Logger;
  /** Jobs run at once on this instance. */
  concurrency: number;
  /** The tasks this instance runs: push.notify (pushTask) and webhook.drain (webhooks/deliver.ts). */
  tasks: TaskList;
}

/** The push.notify task. */
export function pushTask(db: Database, config: PushConfig, log: Logger, metrics: PushMetrics): TaskList {
  return {
    [NOTIFY_TASK]: async (payload) => {
      if (!isNotifyPayload(payload)) {
        log.error('push job without userId and conversationId: dropped');
        return;
      }
      await runNotify(db, config, log, metrics, payload);
    },
  };
}

function workerLogger(log: Logger): WorkerLogger {
  return new WorkerLogger((scope) => (level, message, meta) => {
    const fields = { ...scope, ...meta };
    if (level === 'error') log.error(fields, message);
    else if (level === 'warning') log.warn(fields, message);
    else log.debug(fields, message);
  });
}

/** Installs (or upgrades) graphile-worker's schema; the send trigger needs it before the first send. */
export async function migratePushQueue(databaseUrl: string, log: Logger): Promise<void> {
  await runMigrations({ connectionString: databaseUrl, logger: workerLogger(log) });
}

/** How often an instance looks for jobs held by dead worker pools. */
const SWEEP_MS = 1000;
/** The advisory-lock namespace of worker-pool leases (two-key form: (namespace, hashtext(pool id))). */
const LEASE_NAMESPACE = 7_355_609;

export class PushWorker {
  private runner: Runner | null = null;
  private lease: Sql | null = null;
  private utils: WorkerUtils | null = null;
  private poolId: string | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: PushWorkerOptions) {}

  async start(): Promise<void> {
    const { databaseUrl, log, concurrency, tasks } = this.options;
    const events = new EventEmitter() as WorkerEvents;
    events.on('pool:create', ({ workerPool }) => {
      this.poolId = workerPool.id;
    });
    this.lease = postgres(databaseUrl, { max: 1, idle_timeout: 0, onnotice: () => {}, connection: { application_name: 'chat-push-lease' } });
    this.utils = await makeWorkerUtils({ connectionString: databaseUrl, logger: workerLogger(log) });
    this.runner = await run({
      events,
      connectionString: databaseUrl,
      concurrency,
      maxPoolSize: concurrency + 2,
      noHandleSignals: true,
      // New jobs are announced by LISTEN/NOTIFY; the poll finds jobs whose run_at came.
      pollInterval: 500,
      logger: workerLogger(log),
      taskList: tasks,
    });
    this.runner.promise.catch((error: unknown) => log.error({ err: error }, 'push worker stopped'));
    await this.holdLease();
    this.timer = setInterval(() => void this.sweep().catch((error: unknown) => log.warn({ err: error }, 'push lease sweep failed')), SWEEP_MS);
    this.timer.unref();
  }

  /** Takes (or keeps) this instance's lease: re-taken after its connection was replaced. */
  private async holdLease(): Promise<void> {
    if (!this.lease || !this.poolId) return;
    await this.lease`
      select case when exists (
        select 1 from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()
          and classid = ${LEASE_NAMESPACE}::oid and objid = hashtext(${this.poolId})::oid and objsubid = 2
      ) then true else pg_try_advisory_lock(${LEASE_NAMESPACE}, hashtext(${this.poolId})) end`;
  }

  /** Unlocks the jobs of worker pools whose lease nobody holds any more. */
  async sweep(): Promise<void> {
    const lease = this.lease;
    if (!lease || !this.utils || !this.poolId) return;
    await this.holdLease();
    const holders = await lease<{ lockedBy: string }[]>`
      select distinct locked_by as "lockedBy" from graphile_worker.jobs where locked_by is not null and locked_by <> ${this.poolId ?? ''}`;
    const dead: string[] = [];
    for (const { lockedBy } of holders) {
      const [row] = await lease<{ free: boolean }[]>`select pg_try_advisory_lock(${LEASE_NAMESPACE}, hashtext(${lockedBy})) as free`;
      if (!row?.free) continue;
      await lease`select pg_advisory_unlock(${LEASE_NAMESPACE}, hashtext(${lockedBy}))`;
      dead.push(lockedBy);
    }
    if (dead.length === 0) return;
    this.options.log.warn({ pools: dead }, 'push jobs of stopped worker pools unlocked');
    await this.utils.forceUnlockWorkers(dead);
  }

  /** Graceful: waits for running jobs, which release their locks, then gives up the lease. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const runner = this.runner;
    this.runner = null;
    await runner?.stop();
    await this.utils?.release();
    await this.lease?.end({ timeout: 2 });
    this.lease = null;
  }
}

/** chat_push_sends_total{outcome}: sent, skipped (already notified), gone (removed), failed (retried), rejected. */
export function pushMetrics(registry: Registry): PushMetrics {
  const sends = new Counter({ name: 'chat_push_sends_total', help: 'Web Push sends per device, by outcome', labelNames: ['outcome'], registers: [registry] });
  return { sent: (outcome) => sends.inc({ outcome }) };
}
