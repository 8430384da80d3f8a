/**
 * Prints a token for a user with the service's own configured secret: a session token
 * minted exactly as the storefront's NextAuth does, or with --chat a chat credential as
 * the storefront's /api/chat-token mints it.
 * (`run` matters: `pnpm token` is npm's own command, which pnpm passes on to npm.)
 *   pnpm run token alice            NextAuth v4 session token, 1 hour
 *   pnpm run token bob --ttl 60     expires in 60 s
 *   pnpm run token support --role admin
 *   pnpm run token alice --chat     chat credential, 10 minutes (at most CHAT_CREDENTIAL_MAX_TTL_SEC)
 */
import { DEMO_USERS } from '@chat/db/seed';
import { loadConfig } from '@chat/service/config';
import { encode } from 'next-auth/jwt';
import { parseArgs } from 'node:util';
import { signChatCredential } from '../../services/chat/src/auth/chat-credential.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { ttl: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' }, chat: { type: 'boolean', default: false } },
});
const sub = positionals[0];
if (!sub) {
  console.error('usage: pnpm run token <userId> [--ttl seconds] [--name "Display Name"] [--role admin|owner] [--chat]');
  process.exit(2);
}
const config = loadConfig();
const demo = DEMO_USERS.find((u) => u.id === sub);
const name = values.name ?? demo?.name ?? sub;
const role = values.role ?? (sub === 'support' ? 'admin' : undefined);
const secret = config.authSecrets[0]!;
if (values.chat) {
  if (role !== undefined && role !== 'admin' && role !== 'owner') {
    console.error('--role must be admin or owner');
    process.exit(2);
  }
  console.log(await signChatCredential({ sub, name, role }, { secret, ttlSec: Number(values.ttl ?? 600) }));
} else {
  const claims: Record<string, unknown> = { sub, name };
  if (role) claims[config.systemRoleClaim] = role;
  console.log(await encode({ token: claims, secret, maxAge: Number(values.ttl ?? 3600) }));
}
