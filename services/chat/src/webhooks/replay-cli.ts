/**
 * pnpm --filter @chat/service webhooks:replay -- --endpoint crm [--since 2026-12-01T00:00:00Z] [--limit 1000]
 *
 * Re-sends an endpoint's dead letters that were not replayed yet (replay.ts), with the
 * service's own configuration (DATABASE_URL, WEBHOOKS). Prints a JSON report; exits 1 when
 * the endpoint refused any.
 */
import { connect } from '@chat/db';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { replayDeadLetters } from './replay.ts';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: { endpoint: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string', default: '1000' } },
});
const config = loadConfig();
const endpoint = config.webhooks.endpoints.find((e) => e.id === values.endpoint);
const since = values.since ? new Date(values.since) : null;
const limit = Number(values.limit);
if (!endpoint) throw new Error(`--endpoint must name one of the configured WEBHOOKS: ${config.webhooks.endpoints.map((e) => e.id).join(', ') || '(none)'}`);
if (since && Number.isNaN(since.getTime())) throw new Error('--since must be an ISO 8601 time');
if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new Error('--limit must be 1 to 100000');
if (!config.databaseUrl) throw new Error('DATABASE_URL is required');
const database = connect(config.databaseUrl, { max: 1, applicationName: 'chat-webhooks-replay' });
try {
  const report = await replayDeadLetters(database.db, endpoint, { since, limit });
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exitCode = report.failed.length > 0 ? 1 : 0;
} finally {
  await database.end();
}
