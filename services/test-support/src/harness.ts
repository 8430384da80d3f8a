/** Real service instances on port 0 against a real PostgreSQL, and real clients for them. */
import { migrate } from '@chat/db';
import { randomUUID } from 'node:crypto';
import postgres, { type Sql } from 'postgres';
import { inject } from 'vitest';
import { buildApp, createLogger, type ChatApp } from '@chat/service';
import { loadConfig, type Config } from '@chat/service/config';
import './provided-context.ts';
import { SECRET } from './tokens.ts';

export { migrate };

export interface TestDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** A fresh migrated database for one test file, cloned from the template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('adminUrl');
  const name = `chat_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name} template ${inject('templateDatabase')}`);
  await admin.end();
  const url = withDatabase(adminUrl, name);
  const sql = postgres(url, { max: 4, onnotice: () => {}, types: { int8: { to: 20, from: [20], serialize: String, parse: Number } } });
  return {
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 1 });
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

export interface Instance {
  chat: ChatApp;
  config: Config;
  http: string;
  ws: string;
  close(): Promise<void>;
}

export async function startInstance(databaseUrl: string, overrides: Partial<Config> = {}): Promise<Instance> {
  const config = loadConfig(
    { AUTH_SECRET: SECRET, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' },
    {
      ...natsOverrides(databaseUrl),
      databaseUrl,
      host: '127.0.0.1',
      port: 0,
      // Tests send from one address at machine speed; the limit tests set their own.
      sendRatePerSec: 10_000,
      sendBurst: 10_000,
      dbWorkPerSec: 1_000_000,
      dbWorkBurst: 1_000_000,
      groupCreatesPerHour: 1_000_000,
      connectsPerIpPerMin: 1_000_000,
      httpRatePerMin: 1_000_000,
      ...overrides,
    },
  );
  const chat = await buildApp(config, createLogger(config));
  const address = await chat.app.listen({ host: config.host, port: 0 });
  let closed = false;
  return {
    chat,
    config,
    http: address,
    ws: `${address.replace(/^http/, 'ws')}/ws`,
    async close() {
      if (closed) return;
      closed = true;
      await chat.app.close();
    },
  };
}

/** The bus the instances of this run use (TEST_BUS). */
export function testBus(): 'pg' | 'nats' {
  return inject('natsUrl') ? 'nats' : 'pg';
}

/**
 * With TEST_BUS=nats (the global setup's nats-server), the NATS bus, with subjects and a
 * stream of this database's own: test files share the server, never each other's events.
 */
export function natsOverrides(databaseUrl: string): Partial<Config> {
  const natsUrl = inject('natsUrl');
  if (!natsUrl) return {};
  const name = new URL(databaseUrl).pathname.slice(1).replace(/[^A-Za-z0-9_-]/g, '_');
  const base = loadConfig({}).nats;
  return { bus: 'nats', nats: { ...base, servers: [natsUrl], subjectPrefix: name, stream: name.toUpperCase() } };
}

/** Polls until check() returns a truthy value (no sleeps standing in for conditions). */
export async function eventually<T>(check: () => T | Promise<T>, what = 'condition', timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** fetch with a bearer token and JSON in and out. */
export async function api<T = any>(
  instance: Instance,
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${instance.http}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}
