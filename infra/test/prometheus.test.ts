/**
 * infra/prometheus with Prometheus's own checker: the scrape config, the alerting rules
 * (syntax and unit tests), and the live /metrics output of a running chat instance.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createTestDatabase, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';
import { INFRA_DIR, PROMTOOL_BIN, REPO_ROOT, requireBinary, run } from './support/processes.ts';

const PROM_DIR = path.join(INFRA_DIR, 'prometheus');

function promtool(args: string[], input?: string) {
  requireBinary(PROMTOOL_BIN, 'prometheus (it ships promtool)');
  return run(PROMTOOL_BIN, args, { cwd: PROM_DIR, input });
}

/** Metric names the service registers (services/chat/src/metrics.ts). */
function serviceMetricNames(): string[] {
  const source = readFileSync(path.join(REPO_ROOT, 'services/chat/src/metrics.ts'), 'utf8');
  return [...source.matchAll(/name: '(chat_[a-z_]+)'/g)].map((m) => m[1]!);
}

describe('promtool check config / rules', () => {
  it('accepts prometheus.yml (and the rule file it loads)', async () => {
    const result = await promtool(['check', 'config', 'prometheus.yml']);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });

  it('accepts alerts.yml', async () => {
    const result = await promtool(['check', 'rules', 'alerts.yml']);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it('passes the alert unit tests (alerts.test.yml)', async () => {
    const result = await promtool(['test', 'rules', 'alerts.test.yml']);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it('scrapes the chat instances and loads the rules', () => {
    const config = parse(readFileSync(path.join(PROM_DIR, 'prometheus.yml'), 'utf8'));
    expect(config.rule_files).toContain('alerts.yml');
    const chat = config.scrape_configs.find((job: any) => job.job_name === 'chat');
    expect(chat.metrics_path).toBe('/metrics');
    expect(chat.static_configs[0].targets).toEqual(['chat-1:4000', 'chat-2:4000']);
    const web = config.scrape_configs.find((job: any) => job.job_name === 'web');
    expect(web.static_configs[0].targets).toContain('http://web:3000/');
  });

  it('has the alerts operations.md documents, each with summary and description, on metrics that exist', () => {
    const rules = parse(readFileSync(path.join(PROM_DIR, 'alerts.yml'), 'utf8')).groups.flatMap((g: any) => g.rules);
    const byName = new Map<string, any>(rules.map((r: any) => [r.alert, r]));
    expect(byName.get('ChatInstanceDown').expr).toBe('up{job="chat"} == 0');
    expect(byName.get('ChatListenerDisconnected').expr).toBe('chat_listener_up == 0');
    expect(byName.get('ChatListenerDisconnected').for).toBe('1m');
    expect(byName.get('ChatSendLatencyHigh').expr).toBe('histogram_quantile(0.99, sum by (le) (rate(chat_send_ack_seconds_bucket[5m]))) > 0.05');
    expect(byName.get('ChatFanoutLagHigh').expr).toContain('chat_fanout_lag_seconds_bucket');
    expect(byName.get('ChatSlowConsumers').expr).toContain('chat_slow_consumer_disconnects_total');

    const known = new Set(serviceMetricNames());
    const operations = readFileSync(path.join(REPO_ROOT, 'docs/operations.md'), 'utf8');
    for (const rule of rules) {
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
      expect(rule.labels?.severity, rule.alert).toMatch(/^(critical|warning|info)$/);
      // Every chat_* metric an alert uses is one the service exports.
      for (const [name] of String(rule.expr).matchAll(/chat_[a-z_]+/g)) {
        expect(known.has(name.replace(/_(bucket|sum|count)$/, '')), `${rule.alert}: ${name}`).toBe(true);
      }
      // ...and the runbook has a section for it.
      expect(operations, `docs/operations.md documents ${rule.alert}`).toContain(`### ${rule.alert}`);
    }
  });
});

describe('promtool check metrics on a live instance', () => {
  let db: TestDatabase;
  let instance: Instance;

  beforeAll(async () => {
    db = await createTestDatabase();
    instance = await startInstance(db.url, { instanceId: 'metrics-check' });
    // Some traffic, so counters and histograms have samples and labels.
    const token = await mintV4({ sub: 'dana' });
    const client = await TestClient.live(instance.ws, token);
    await fetch(`${instance.http}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    const created = await fetch(`${instance.http}/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'metrics' }),
    });
    const { id } = (await created.json()) as { id: string };
    await client.request({ type: 'message.send', conversationId: id, clientMsgId: 'm1', body: 'hello' });
    await client.request({ type: 'message.send', conversationId: 'nope', clientMsgId: 'm2', body: 'x' }).catch(() => {});
    await client.close();
  });

  afterAll(async () => {
    await instance?.close();
    await db?.drop();
  });

  it('parses, and only prom-client default metrics draw lint warnings', async () => {
    const response = await fetch(`${instance.http}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    for (const name of serviceMetricNames()) expect(text, name).toContain(`# TYPE ${name} `);

    const result = await promtool(['check', 'metrics'], text);
    // 0: clean. 3: lint problems only (exit 1 would be a parse error).
    expect([0, 3], `promtool check metrics exited ${result.code}:\n${result.stdout}${result.stderr}`).toContain(result.code);
    const problems = (result.stdout + result.stderr).split('\n').map((line) => line.trim()).filter(Boolean);
    for (const line of problems) {
      // Lines read `<metric> <problem>` (older promtools: `<metric>: <problem>`).
      const metric = line.split(/[\s:]/)[0]!;
      // prom-client's default process_* / nodejs_* metrics are out of our hands; ours must be clean.
      expect(metric.startsWith('chat_'), `lint problem in a service metric: ${line}`).toBe(false);
      expect(/^(nodejs|process)_/.test(metric), `unexpected promtool output: ${line}`).toBe(true);
    }
  });
});
