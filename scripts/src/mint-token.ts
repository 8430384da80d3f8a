/**
 * Prints a session token for a user, minted exactly as the storefront's NextAuth does,
 * with the service's own configured secret.
 *   pnpm token alice            NextAuth v4 token, 1 hour
 *   pnpm token bob --ttl 60     expires in 60 s
 *   pnpm token support --role admin
 */
import { DEMO_USERS } from '@chat/db/seed';
import { loadConfig } from '@chat/service/config';
import { encode } from 'next-auth/jwt';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { ttl: { type: 'string', default: '3600' }, name: { type: 'string' }, role: { type: 'string' } },
});
const sub = positionals[0];
if (!sub) {
  console.error('usage: pnpm token <userId> [--ttl seconds] [--name "Display Name"] [--role admin|owner]');
  process.exit(2);
}
const config = loadConfig();
const demo = DEMO_USERS.find((u) => u.id === sub);
const claims: Record<string, unknown> = { sub, name: values.name ?? demo?.name ?? sub };
if (sub === 'support' && !values.role) claims[loadConfig().systemRoleClaim] = 'admin';
if (values.role) claims[config.systemRoleClaim] = values.role;
console.log(await encode({ token: claims, secret: config.authSecrets[0]!, maxAge: Number(values.ttl) }));
