/** Runs one scenario and returns its report (the CLI, bench:compare and the smoke test use this). */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './common.ts';
import { oursDriver } from './drivers/ours.ts';
import { socketIoDriver } from './drivers/socketio.ts';
import type { Driver, DriverName } from './drivers/types.ts';
import { validate, type RunOptions } from './options.ts';
import { connectStorm, idle } from './scenarios/connect.ts';
import { history } from './scenarios/history.ts';
import { messaging } from './scenarios/messaging.ts';
import { resumeStorm } from './scenarios/resume-storm.ts';
import type { ScenarioResult } from './scenarios/types.ts';
import { GeneratorMonitor, type GeneratorHealth } from './stats.ts';

export interface Report {
  scenario: string;
  driver: DriverName;
  label: string | null;
  startedAt: string;
  finishedAt: string;
  machine: { nproc: number; memoryGiB: number; node: string; loadAverage: number[] };
  options: Record<string, unknown>;
  result: Record<string, unknown>;
  table: Record<string, unknown>[];
  problems: string[];
  generator: GeneratorHealth;
  file: string | null;
}

export function driverFor(name: DriverName): Driver {
  if (name === 'socketio') return socketIoDriver();
  if (name === 'raw') return oursDriver({ raw: true });
  return oursDriver();
}

function publicOptions(options: RunOptions): Record<string, unknown> {
  const { kill, secret, databaseUrl, ...rest } = options;
  return { ...rest, databaseUrl: databaseUrl ? databaseUrl.replace(/\/\/[^@]*@/, '//***@') : undefined, kill: kill ? 'programmatic' : undefined };
}

export async function runScenario(input: RunOptions): Promise<Report> {
  const options = validate({ ...input });
  const driver = driverFor(options.driver);
  const monitor = new GeneratorMonitor();
  const startedAt = new Date();
  monitor.start();
  let outcome: ScenarioResult;
  switch (options.scenario) {
    case 'connect-storm':
      outcome = await connectStorm(options, driver, monitor);
      break;
    case 'idle':
      outcome = await idle(options, driver, monitor);
      break;
    case 'fanout':
    case 'dm':
      outcome = await messaging(options, driver, monitor);
      break;
    case 'resume-storm':
      outcome = await resumeStorm(options, driver, monitor);
      break;
    case 'history':
      outcome = await history(options, driver, monitor);
      break;
  }
  const generator = monitor.stop();
  const report: Report = {
    scenario: options.scenario,
    driver: options.driver,
    label: options.label ?? null,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { nproc: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAverage: os.loadavg() },
    options: publicOptions(options),
    result: outcome.result,
    table: outcome.table,
    problems: outcome.problems ?? [],
    generator,
    file: null,
  };
  if (options.outDir !== null) {
    const dir = path.resolve(repoRoot, options.outDir);
    await mkdir(dir, { recursive: true });
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    const file = path.join(dir, `${options.scenario}-${options.driver}${options.label ? `-${options.label}` : ''}-${stamp}.json`);
    report.file = file;
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  }
  return report;
}
