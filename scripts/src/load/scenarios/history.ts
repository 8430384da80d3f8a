/**
 * history: GET /v1/conversations/:id/messages pages under concurrent load (autocannon, one
 * instance per target, connections split between them), random `before` cursors so pages come
 * from all over the conversation. Latency of every response goes into one HDR histogram.
 * Uses --conversation/--user (e.g. from seed-history.ts) or creates a conversation and sends
 * --history-messages messages into it first.
 */
import autocannon from 'autocannon';
import { httpBase, now, pool, round } from '../common.ts';
import type { Driver } from '../drivers/types.ts';
import type { RunOptions } from '../options.ts';
import { Progress, log } from '../progress.ts';
import { createPopulation, mintToken, serviceSecret } from '../setup.ts';
import { Latency } from '../stats.ts';
import type { ScenarioResult } from './types.ts';
import type { GeneratorMonitor } from '../stats.ts';

async function prepareConversation(options: RunOptions, driver: Driver): Promise<{ conversationId: string; token: string; lastSeq: number }> {
  if (options.historyConversation && options.historyUser) {
    const token = await mintToken(options.historyUser, options.secret ?? serviceSecret());
    const response = await fetch(`${httpBase(options.targets[0]!)}/v1/conversations/${options.historyConversation}/messages?limit=1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!response.ok) throw new Error(`history of ${options.historyConversation} as ${options.historyUser}: HTTP ${response.status}`);
    const page = (await response.json()) as { messages: { seq: number }[] };
    return { conversationId: options.historyConversation, token, lastSeq: page.messages[0]?.seq ?? 0 };
  }
  const population = await createPopulation({
    clients: 2,
    roomSize: 2,
    targets: options.targets,
    mode: options.setup,
    databaseUrl: options.databaseUrl,
    secret: options.secret,
  });
  const user = population.users[0]!;
  const conversationId = population.rooms[0]!.id;
  const client = await driver.connect(options.targets[0]!, user, { onDelivery: () => {}, onClose: () => {} }, options.connectTimeoutMs);
  let lastSeq = 0;
  const started = now();
  await pool(
    Array.from({ length: options.historyMessages }, (_, i) => i),
    50,
    async (i) => {
      const ack = await client.send(conversationId, `h${i}`, `history message ${i} ${'lorem ipsum '.repeat(4)}`);
      lastSeq = Math.max(lastSeq, ack.seq ?? 0);
    },
  );
  await client.close();
  log(options.quiet, `wrote ${options.historyMessages} messages in ${round((now() - started) / 1000, 2)} s`);
  return { conversationId, token: user.token, lastSeq };
}

export async function history(options: RunOptions, driver: Driver, monitor: GeneratorMonitor): Promise<ScenarioResult> {
  const { conversationId, token, lastSeq } = await prepareConversation(options, driver);
  const latency = new Latency();
  const statuses: Record<string, number> = {};
  let errors = 0;
  let completed = 0;
  const path = () => {
    const before = lastSeq > options.pageSize ? options.pageSize + 1 + Math.floor(Math.random() * (lastSeq - options.pageSize)) : lastSeq + 1;
    return `/v1/conversations/${conversationId}/messages?limit=${options.pageSize}&before=${before}`;
  };
  monitor.start();
  const progress = new Progress('history', () => `responses ${completed}  p99 ${latency.summary().p99} ms`, options.quiet, () => monitor.sample());
  progress.start();
  const started = now();
  const perTarget = Math.max(1, Math.floor(options.historyConnections / options.targets.length));
  const runs = options.targets.map(
    (target) =>
      new Promise<autocannon.Result>((resolve, reject) => {
        const instance = autocannon(
          {
            url: httpBase(target),
            connections: perTarget,
            duration: options.durationSec,
            headers: { authorization: `Bearer ${token}` },
            requests: [{ method: 'GET', setupRequest: (request: any) => ({ ...request, path: path() }) }],
          },
          (error, result) => (error ? reject(error) : resolve(result)),
        );
        instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
          completed++;
          statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
          latency.record(responseTime);
        });
        instance.on('reqError', () => errors++);
      }),
  );
  const results = await Promise.all(runs);
  const seconds = (now() - started) / 1000;
  progress.stop();
  const summary = latency.summary();
  const non2xx = Object.entries(statuses).filter(([code]) => !code.startsWith('2')).reduce((a, [, n]) => a + n, 0);
  const requestsPerSec = round(completed / seconds, 1);
  const problems = non2xx || errors ? [`${non2xx} non-2xx responses, ${errors} request errors`] : [];
  return {
    result: {
      conversationId,
      lastSeq,
      pageSize: options.pageSize,
      connections: perTarget * options.targets.length,
      durationSec: round(seconds, 2),
      requests: completed,
      requestsPerSec,
      statuses,
      errors,
      latencyMs: summary,
      autocannon: results.map((r) => ({ url: r.url, requestsAverage: r.requests.average, latencyP50: r.latency.p50, latencyP99: r.latency.p99, non2xx: r.non2xx })),
    },
    table: [
      {
        connections: perTarget * options.targets.length,
        'req/s': requestsPerSec,
        'p50 ms': summary.p50,
        'p95 ms': summary.p95,
        'p99 ms': summary.p99,
        'max ms': summary.max,
        non2xx,
        errors,
      },
    ],
    problems,
  };
}
