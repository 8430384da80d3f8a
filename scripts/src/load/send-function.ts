/**
 * pnpm bench:send-function — the send statement alone, old against new, in one session.
 * `chat_send_messages` (v1: line payloads, JS-side retry) and `chat_send_messages_v2` (JSON
 * records, member check first, in-statement retry under a savepoint) both live in the
 * schema during a rolling deploy, so one throwaway PostgreSQL serves both. Each round runs
 * each version for a 10-s measured step after a 2-s warm-up, ALTERNATING (v1, v2, v2, v1, …),
 * with the service's pattern: batches of `--batch` sends to `--conversations` conversations,
 * two batches pipelined on one connection, and a LISTENer draining each version's channel.
 * Medians over rounds of the writer's server CPU per message (its backend's /proc time: the
 * figure a busy machine disturbs least), messages/s and the batch latency p50/p99 go to stdout.
 *   pnpm bench:send-function [--rounds 3] [--batch 20] [--conversations 50] [--seconds 10]
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { migrate } from '@chat/db';
import postgres from 'postgres';
import { startThrowawayPostgres } from './cluster.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '20' },
    conversations: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
  },
});
const rounds = Math.min(9, Number(values.rounds));
const batchSize = Math.min(512, Number(values.batch));
const conversationCount = Math.min(1000, Number(values.conversations));
const seconds = Math.min(60, Number(values.seconds));
const warmup = Math.min(10, Number(values.warmup));

type Version = 'v1' | 'v2';
const FUNCTION: Record<Version, string> = { v1: 'chat_send_messages', v2: 'chat_send_messages_v2' };
const CHANNEL: Record<Version, string> = { v1: 'chat_events', v2: 'chat_events_v2' };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

const server = await startThrowawayPostgres('bench-send-fn');
try {
  await migrate(server.url);
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
  await admin`insert into users (id) select * from unnest(${users}::text[])`;
  const conversations: string[] = [];
  for (let i = 0; i < conversationCount; i++) {
    const [row] = await admin<{ id: string }[]>`insert into conversations (kind, title, creator_id) values ('group', 'bench', 'u0') returning id`;
    conversations.push(row!.id);
    await admin`insert into members (conversation_id, user_id) select ${row!.id}, * from unnest(${users}::text[])`;
  }
  const listener = postgres(server.url, { max: 1, onnotice: () => {} });
  let notified = 0;
  for (const version of ['v1', 'v2'] as const) await listener.listen(CHANNEL[version], () => void notified++);
  const writer = postgres(server.url, { max: 1, onnotice: () => {} });
  // The writer's server process: its CPU time (from /proc, clock ticks of 10 ms) is the
  // statement's cost, and unlike msgs/s it hardly depends on what else the machine runs.
  const pid = (await writer<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
  const backendTicks = () => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  };

  let counter = 0;
  async function sendBatch(version: Version): Promise<number> {
    const items = Array.from({ length: batchSize }, (_, i) => ({
      conversation: conversations[(counter + i) % conversations.length]!,
      sender: users[(counter + i) % users.length]!,
      clientMsgId: `${version}-${counter + i}-${randomUUID()}`,
      body: `message ${counter + i} with some ordinary text in it, like a shopper would send`,
    }));
    counter += batchSize;
    const started = performance.now();
    await writer.unsafe(
      `select ord, outcome from ${FUNCTION[version]}($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::text[]::boolean[], 60, $9, 7500, 3000)`,
      [
        items.map(() => randomUUID()),
        items.map((i) => i.conversation),
        items.map((i) => i.sender),
        items.map((i) => i.clientMsgId),
        items.map((i) => i.body),
        items.map(() => null),
        items.map(() => null),
        items.map(() => 'f'),
        CHANNEL[version],
      ] as never[],
    );
    return performance.now() - started;
  }

  /** Two batches in flight on the one connection, as the service pipelines them. */
  async function step(version: Version, durationSec: number): Promise<{ perSec: number; p50: number; p99: number; cpuUs: number }> {
    const latencies: number[] = [];
    const ticksBefore = backendTicks();
    const deadline = performance.now() + durationSec * 1000;
    const lane = async () => {
      while (performance.now() < deadline) latencies.push(await sendBatch(version));
    };
    const started = performance.now();
    await Promise.all([lane(), lane()]);
    const elapsed = (performance.now() - started) / 1000;
    const messages = latencies.length * batchSize;
    const cpuUs = ((backendTicks() - ticksBefore) * 10_000) / messages;
    return { perSec: messages / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpuUs };
  }

  const results: Record<Version, { perSec: number; p50: number; p99: number; cpuUs: number }[]> = { v1: [], v2: [] };
  for (let round = 0; round < rounds; round++) {
    const order: Version[] = round % 2 === 0 ? ['v1', 'v2'] : ['v2', 'v1'];
    for (const version of order) {
      await step(version, warmup);
      const result = await step(version, seconds);
      results[version].push(result);
      console.error(
        `round ${round + 1} ${version}: ${Math.round(result.perSec)} msgs/s, batch p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ` +
          `server CPU ${Math.round(result.cpuUs)} µs/msg (load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})`,
      );
    }
  }
  console.log(`| version | server CPU µs/msg (median of ${rounds}) | msgs/s | batch p50 ms | batch p99 ms |`);
  console.log('|---|---|---|---|---|');
  for (const version of ['v1', 'v2'] as const) {
    const r = results[version];
    const cpu = r.map((x) => Math.round(x.cpuUs));
    console.log(
      `| ${FUNCTION[version]} | ${median(cpu)} [${cpu.join(' / ')}] | ${Math.round(median(r.map((x) => x.perSec)))} | ${median(r.map((x) => x.p50)).toFixed(2)} | ${median(r.map((x) => x.p99)).toFixed(2)} |`,
    );
  }
  console.log(`batch ${batchSize}, ${conversationCount} conversations, ${seconds}-s steps after ${warmup}-s warm-ups, 2 batches in flight, ${notified} notifications drained`);
  await Promise.all([writer.end(), listener.end(), admin.end()]);
} finally {
  await server.stop();
}
