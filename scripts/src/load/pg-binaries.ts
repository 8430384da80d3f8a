/**
 * A throwaway PostgreSQL server from a folder of installed binaries, for benchmarks against a
 * server other than the embedded one with nothing else on it: e.g. Debian's
 * `/usr/lib/postgresql/15/bin` (apt package postgresql-15). Same settings as the embedded
 * server (db/src/embedded.ts): initdb defaults plus max_connections=300, TCP on 127.0.0.1,
 * password auth (postgres/postgres), a database `chat`. As root it runs as the `postgres` user
 * with its data under /var/tmp (that user cannot enter a mode-0700 folder such as /root).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { freePort } from '@chat/db/embedded';
import { sleep } from './common.ts';

export interface LocalServer {
  url: string;
  port: number;
  version: string;
  stop(): Promise<void>;
}

function run(file: string, args: string[], as: { uid: number; gid: number } | null): { code: number | null; output: string } {
  const result = spawnSync(file, args, { ...as, encoding: 'utf8', env: { ...process.env, LC_MESSAGES: 'C' } });
  return { code: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

function postgresUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) throw new Error('PostgreSQL does not run as root and there is no `postgres` user (install postgresql-15, which creates it)');
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

/** `settings`: extra `-c name=value` (e.g. shared_preload_libraries=pg_stat_statements for a profile). */
export async function startServerFromBinaries(binDir: string, settings: string[] = [], prefix = 'chat-bench-pg-'): Promise<LocalServer> {
  const initdb = path.join(binDir, 'initdb');
  const server = path.join(binDir, 'postgres');
  if (!existsSync(initdb) || !existsSync(server)) throw new Error(`${binDir}: no initdb/postgres there (Debian: apt-get install postgresql-15, then /usr/lib/postgresql/15/bin)`);
  const as = postgresUser();
  const root = await mkdtemp(path.join(as ? '/var/tmp' : tmpdir(), prefix));
  await chmod(root, 0o755);
  const dataDir = path.join(root, 'data');
  const pwfile = path.join(root, 'pw');
  await writeFile(pwfile, 'postgres\n', { mode: 0o644 });
  if (as) await chown(root, as.uid, as.gid);
  const init = run(initdb, [`--pgdata=${dataDir}`, '--auth=password', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--lc-messages=C'], as);
  if (init.code !== 0) {
    await rm(root, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.code}): ${init.output}`);
  }
  const port = await freePort();
  const child: ChildProcess = spawn(
    server,
    ['-D', dataDir, '-p', String(port), '-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${root}`, ...settings.flatMap((x) => ['-c', x])],
    { ...as, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
  );
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stopOnExit = () => void child.kill('SIGINT');
  process.once('exit', stopOnExit);
  const stop = async () => {
    process.removeListener('exit', stopOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGQUIT'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`PostgreSQL from ${binDir} exited during start-up: ${log}`);
    }
    let lines: string[] = [];
    try {
      lines = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
    } catch {
      // not written yet
    }
    if (Number(lines[0]) === child.pid && lines[7]?.trim() === 'ready') break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`PostgreSQL from ${binDir} not ready within 60 s: ${log}`);
    }
    await sleep(20);
  }
  const admin = postgres({ host: '127.0.0.1', port, user: 'postgres', password: 'postgres', database: 'postgres', max: 1, onnotice: () => {} });
  let version = '';
  try {
    await admin`create database chat`;
    version = (await admin<{ v: string }[]>`select version() as v`)[0]!.v;
  } finally {
    await admin.end();
  }
  return { url: `postgres://postgres:postgres@127.0.0.1:${port}/chat`, port, version, stop };
}
