/**
 * The push job queue: graphile-worker on the service's own PostgreSQL. Every instance with
 * push configured runs a worker; a job is taken by one worker at a time (row locks with SKIP
 * LOCKED), so work is shared across instances without duplicates, and a job enqueued by an
 * instance that stopped is run by another. Jobs are enqueued in SQL, by the send statement's
 * trigger (migration 0007), in the transaction that commits the message.
 */
import type { Database } from '@chat/db';
import { Logger as WorkerLogger, run, runMigrations, type Runner } from 'graphile-worker';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { PushConfig } from '../config.ts';
import { isNotifyPayload, NOTIFY_TASK, runNotify, type PushMetrics } from './notify.ts';

export interface PushWorkerOptions {
  databaseUrl: string;
  db: Database;
  config: PushConfig;
  log: Logger;
  metrics: PushMetrics;
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

export class PushWorker {
  private runner: Runner | null = null;

  constructor(private readonly options: PushWorkerOptions) {}

  async start(): Promise<void> {
    const { databaseUrl, db, config, log, metrics } = this.options;
    this.runner = await run({
      connectionString: databaseUrl,
      concurrency: config.concurrency,
      maxPoolSize: config.concurrency + 2,
      noHandleSignals: true,
      // New jobs are announced by LISTEN/NOTIFY; the poll finds jobs whose run_at came.
      pollInterval: 500,
      logger: workerLogger(log),
      taskList: {
        [NOTIFY_TASK]: async (payload) => {
          if (!isNotifyPayload(payload)) {
            log.error('push job without userId and conversationId: dropped');
            return;
          }
          await runNotify(db, config, log, metrics, payload);
        },
      },
    });
    this.runner.promise.catch((error: unknown) => log.error({ err: error }, 'push worker stopped'));
  }

  /** Graceful: waits for running jobs, which release their locks. */
  async stop(): Promise<void> {
    const runner = this.runner;
    this.runner = null;
    await runner?.stop();
  }
}

/** chat_push_sends_total{outcome}: sent, skipped (already notified), gone (removed), failed (retried), rejected. */
export function pushMetrics(registry: Registry): PushMetrics {
  const sends = new Counter({ name: 'chat_push_sends_total', help: 'Web Push sends per device, by outcome', labelNames: ['outcome'], registers: [registry] });
  return { sent: (outcome) => sends.inc({ outcome }) };
}
