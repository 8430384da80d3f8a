/**
 * `make dev`'s Web Push keys: a development VAPID pair, generated once and kept in
 * `<CHAT_DATA_DIR>/vapid.json` (mode 0600), so browsers' subscriptions survive restarts (a
 * subscription is bound to the key it was made with). Variables already set win.
 */
import { createECDH } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface VapidFile {
  publicKey: string;
  privateKey: string;
}

export function devVapidEnv(root: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (env.VAPID_PUBLIC_KEY || env.VAPID_PRIVATE_KEY) return {};
  const dataDir = path.resolve(env.CHAT_DATA_DIR || path.join(root, '.data'));
  const file = path.join(dataDir, 'vapid.json');
  let keys: VapidFile;
  if (existsSync(file)) {
    keys = JSON.parse(readFileSync(file, 'utf8')) as VapidFile;
  } else {
    const ecdh = createECDH('prime256v1');
    const publicKey = ecdh.generateKeys().toString('base64url');
    // The private scalar, left-padded to 32 bytes.
    const privateKey = Buffer.concat([Buffer.alloc(32), ecdh.getPrivateKey()]).subarray(-32).toString('base64url');
    keys = { publicKey, privateKey };
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    console.log(`[dev] generated a development VAPID key pair in ${file}`);
  }
  return { VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey, VAPID_SUBJECT: env.VAPID_SUBJECT || 'mailto:dev@chat.example' };
}
