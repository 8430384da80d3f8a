/**
 * BlobStorage on a local folder (default `<dataDir>/attachments`). Several instances
 * need the folder on a shared volume, or another driver.
 *
 * Layout: `<root>/<first two key chars>/<key>`; writes go to `<root>/.tmp/` first and
 * are renamed into place (same filesystem), so a reader sees a whole file or none.
 * Keys are server-generated; anything but [A-Za-z0-9_-] is refused anyway, so a key
 * can never name a path outside the root.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobStorage } from './storage.ts';

const KEY = /^[A-Za-z0-9_-]{2,128}$/;

export class LocalDiskStorage implements BlobStorage {
  readonly root: string;
  private readonly tmpDir: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.tmpDir = path.join(this.root, '.tmp');
  }

  private pathOf(key: string): string {
    if (!KEY.test(key)) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
    return path.join(this.root, key.slice(0, 2).toLowerCase(), key);
  }

  async put(key: string, data: Buffer): Promise<void> {
    const target = this.pathOf(key);
    await Promise.all([mkdir(this.tmpDir, { recursive: true }), mkdir(path.dirname(target), { recursive: true })]);
    const temp = path.join(this.tmpDir, `${key}.${randomUUID()}`);
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(data);
        await handle.sync(); // durable before the row that points at it commits
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    await syncDir(path.dirname(target));
  }

  async get(key: string): Promise<Readable | null> {
    try {
      const handle = await open(this.pathOf(key), 'r');
      return handle.createReadStream(); // closes the handle when done or destroyed
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** Makes the rename durable; best effort where directories cannot be opened for sync. */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // some platforms (Windows) refuse fsync on a directory
  }
}
