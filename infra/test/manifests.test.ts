/**
 * docker-compose.yml and infra/k8s, parsed with `yaml`: the fields that make a deploy safe
 * (probes, drain timing, disruption budget, autoscaling, non-root, pinned images, secrets by
 * reference) and that the pieces agree with each other (names, ports, commands, nginx).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { renderNginxConfig } from '../nginx/render.ts';
import { INFRA_DIR, REPO_ROOT, run } from './support/processes.ts';

type Doc = Record<string, any>;

const compose: Doc = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
const composeText = readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
const envExample = readFileSync(path.join(REPO_ROOT, '.env.example'), 'utf8');
const nginxConf = readFileSync(path.join(INFRA_DIR, 'nginx/nginx.conf'), 'utf8');

const K8S_DIR = path.join(INFRA_DIR, 'k8s');
// kustomization.yaml is kustomize's own file, not a Kubernetes object.
const k8sFiles = readdirSync(K8S_DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const k8s: { file: string; doc: Doc }[] = k8sFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(path.join(K8S_DIR, file), 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return { file, doc: d.toJS() as Doc };
  }),
);
function find(kind: string, name: string): Doc {
  const found = k8s.find(({ doc }) => doc.kind === kind && doc.metadata?.name === name);
  if (!found) throw new Error(`no ${kind}/${name} in infra/k8s`);
  return found.doc;
}
const configMap = find('ConfigMap', 'chat-config');
const drainSeconds = Number(configMap.data.DRAIN_MS) / 1000;

/** An image reference pinned to a tag other than latest (or a digest). */
function expectPinned(image: string, where: string): void {
  expect(image, where).toMatch(/(:[\w][\w.-]*|@sha256:[a-f0-9]{64})$/);
  expect(image, where).not.toMatch(/:latest$/);
}

/** Kubernetes container env: secrets only by reference. */
function expectSecretsByReference(container: Doc, where: string): void {
  for (const entry of container.env ?? []) {
    if (/SECRET|PASSWORD|DATABASE_URL|TOKEN/.test(entry.name)) {
      expect(entry.value, `${where}: ${entry.name} must come from a Secret`).toBeUndefined();
      expect(entry.valueFrom?.secretKeyRef?.name, `${where}: ${entry.name}`).toBe('chat-secrets');
    }
  }
}

function expectNonRoot(pod: Doc, container: Doc, where: string): void {
  expect(pod.securityContext.runAsNonRoot, where).toBe(true);
  expect(pod.securityContext.runAsUser, where).toBeGreaterThan(0);
  expect(pod.securityContext.seccompProfile?.type, where).toBe('RuntimeDefault');
  expect(container.securityContext.allowPrivilegeEscalation, where).toBe(false);
  expect(container.securityContext.readOnlyRootFilesystem, where).toBe(true);
  expect(container.securityContext.capabilities.drop, where).toEqual(['ALL']);
  expect(pod.automountServiceAccountToken, where).toBe(false);
}

function preStopSleep(container: Doc): number {
  const command: string[] = container.lifecycle.preStop.exec.command;
  expect(command[0]).toBe('sleep');
  return Number(command[1]);
}

describe('docker-compose.yml', () => {
  const services = compose.services;

  it('has the whole stack', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['postgres', 'migrate', 'chat-1', 'chat-2', 'web', 'nginx', 'prometheus']));
    expect(services.postgres.image).toMatch(/^postgres:17/);
    expect(services.postgres.healthcheck.test.join(' ')).toContain('pg_isready');
  });

  it('orders start-up: postgres healthy -> migrate completed -> chat instances healthy -> nginx', () => {
    expect(services.migrate.depends_on.postgres.condition).toBe('service_healthy');
    expect(services.migrate.restart).toBe('no');
    for (const name of ['chat-1', 'chat-2']) {
      expect(services[name].depends_on.migrate.condition).toBe('service_completed_successfully');
      expect(services[name].depends_on.postgres.condition).toBe('service_healthy');
      expect(services.nginx.depends_on[name].condition).toBe('service_healthy');
    }
  });

  it('runs the chat image with migrations off, distinct instance ids, and a stop grace over the drain', () => {
    expect(services.migrate.build.dockerfile).toBe('infra/docker/chat.Dockerfile');
    expect(services.migrate.command).toEqual(['node', '/app/services/chat/dist/migrate.js']);
    const ids = new Set<string>();
    for (const name of ['chat-1', 'chat-2']) {
      const service = services[name];
      expect(service.image).toBe(services.migrate.image);
      expect(service.build.dockerfile).toBe('infra/docker/chat.Dockerfile');
      expect(existsSync(path.join(REPO_ROOT, service.build.dockerfile))).toBe(true);
      expect(service.environment.MIGRATE_ON_START).toBe('false');
      expect(service.environment.NODE_ENV).toBe('production');
      ids.add(service.environment.INSTANCE_ID);
      // Every instance sees the same attachments.
      expect(service.volumes).toContain('attachments:/data/attachments');
      // The process exits at the latest DRAIN_MS + 5 s after SIGTERM; compose must wait longer.
      const grace = Number(String(service.stop_grace_period).replace(/s$/, ''));
      expect(grace).toBeGreaterThan(Number(service.environment.DRAIN_MS) / 1000 + 5);
    }
    expect(ids.size).toBe(2);
    expect(services.web.build.dockerfile).toBe('infra/docker/web.Dockerfile');
  });

  it('takes secrets from .env, never inline, and .env.example lists every required variable', () => {
    for (const [name, service] of Object.entries<Doc>(services)) {
      for (const [key, value] of Object.entries<string>(service.environment ?? {})) {
        if (/SECRET|PASSWORD/.test(key)) expect(value, `${name}.${key}`).toMatch(/^\$\{[A-Z_]+(:\?[^}]*|:-)?\}$/);
        if (key === 'DATABASE_URL') expect(value, `${name}.${key}`).toContain('${POSTGRES_PASSWORD:?');
      }
    }
    const required = new Set([...composeText.matchAll(/\$\{([A-Z_]+):\?/g)].map((m) => m[1]!));
    expect([...required].sort()).toEqual(['AUTH_SECRET', 'POSTGRES_PASSWORD']);
    const referenced = new Set([...composeText.matchAll(/\$\{([A-Z_]+)/g)].map((m) => m[1]!));
    for (const name of referenced) expect(envExample, `.env.example has ${name}`).toMatch(new RegExp(`^${name}=`, 'm'));
    // The example carries placeholders, not usable secrets.
    expect(envExample).toMatch(/^AUTH_SECRET=REPLACE_ME$/m);
    expect(envExample).toMatch(/^POSTGRES_PASSWORD=REPLACE_ME$/m);
  });

  it('pins every pulled image', () => {
    for (const [name, service] of Object.entries<Doc>(services)) {
      if (service.build) continue; // built here, tagged by the variables above
      expectPinned(service.image, name);
    }
  });

  it('puts nginx (the infra config) in front, with upstream names that exist in the stack', () => {
    expect(services.nginx.volumes).toContain('./infra/nginx/nginx.conf:/etc/nginx/nginx.conf:ro');
    expect(services.nginx.image).toMatch(/^nginx:1\.(2[89]|[3-9]\d)/); // `resolve` needs >= 1.27.3
    expect(services.nginx.ports[0]).toMatch(/:8080$/);
    for (const [, host, port] of nginxConf.matchAll(/^\s*server ([\w.-]+):(\d+) /gm)) {
      expect(Object.keys(services), `nginx upstream ${host}`).toContain(host);
      expect(['4000', '3000']).toContain(port);
    }
    // Only nginx is published to the world; Prometheus only on loopback; Postgres not at all.
    expect(services.postgres.ports).toBeUndefined();
    for (const name of ['chat-1', 'chat-2', 'web', 'migrate']) expect(services[name].ports, name).toBeUndefined();
    expect(services.prometheus.ports[0]).toMatch(/^127\.0\.0\.1:/);
  });

  it('runs Prometheus with the infra config and rules', () => {
    expect(services.prometheus.volumes).toEqual(
      expect.arrayContaining(['./infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro', './infra/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro']),
    );
    const prometheus = parse(readFileSync(path.join(INFRA_DIR, 'prometheus/prometheus.yml'), 'utf8'));
    const targets: string[] = prometheus.scrape_configs.find((j: Doc) => j.job_name === 'chat').static_configs[0].targets;
    for (const target of targets) expect(Object.keys(services)).toContain(target.split(':')[0]);
  });
});

describe('infra/k8s', () => {
  it('every manifest is well-formed and in the chat namespace', () => {
    expect(k8s.length).toBeGreaterThan(8);
    for (const { file, doc } of k8s) {
      expect(doc.apiVersion, file).toBeTruthy();
      expect(doc.kind, file).toBeTruthy();
      expect(doc.metadata?.name, file).toBeTruthy();
      if (doc.kind !== 'Namespace') expect(doc.metadata.namespace, `${file} ${doc.kind}`).toBe('chat');
    }
  });

  it('kustomization applies everything except the Secret template and the migration Job', () => {
    const kustomization = parse(readFileSync(path.join(K8S_DIR, 'kustomization.yaml'), 'utf8'));
    expect(kustomization.namespace).toBe('chat');
    const expected = k8sFiles.filter((f) => !['secret.example.yaml', 'migrate-job.yaml'].includes(f));
    expect([...kustomization.resources].sort()).toEqual(expected.sort());
  });

  it('chat Deployment: replicas, probes, drain timing, resources, secrets, non-root', () => {
    const deployment = find('Deployment', 'chat');
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(deployment.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'chat' });
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expectPinned(container.image, 'chat');

    expect(container.ports[0]).toMatchObject({ name: 'http', containerPort: 4000 });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.startupProbe.httpGet.path).toBe('/healthz');

    // preStop, then SIGTERM, then at most DRAIN_MS + 5 s until the process exits by itself.
    const preStop = preStopSleep(container);
    expect(preStop).toBe(5);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + drainSeconds + 5);
    expect(drainSeconds).toBeGreaterThan(0);

    expect(container.resources.requests.cpu).toBeTruthy();
    expect(container.resources.requests.memory).toBeTruthy();
    expect(container.resources.limits.cpu).toBeTruthy();
    expect(container.resources.limits.memory).toBeTruthy();

    expect(container.envFrom[0].configMapRef.name).toBe('chat-config');
    expect(configMap.data.MIGRATE_ON_START).toBe('false');
    expect(configMap.data.NODE_ENV).toBe('production');
    const env = new Map<string, Doc>(container.env.map((e: Doc) => [e.name, e]));
    expect(env.get('DATABASE_URL')!.valueFrom.secretKeyRef).toMatchObject({ name: 'chat-secrets', key: 'DATABASE_URL' });
    expect(env.get('AUTH_SECRET')!.valueFrom.secretKeyRef).toMatchObject({ name: 'chat-secrets', key: 'NEXTAUTH_SECRET' });
    expect(env.get('AUTH_SECRET_1')!.valueFrom.secretKeyRef).toMatchObject({ key: 'AUTH_SECRET_ROTATION', optional: true });
    expect(env.get('INSTANCE_ID')!.valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    expectSecretsByReference(container, 'chat');
    expectNonRoot(pod, container, 'chat');
    // Writable places with a read-only root: /tmp and the shared attachments.
    const mounts = new Map<string, string>(container.volumeMounts.map((m: Doc) => [m.mountPath, m.name]));
    expect(mounts.get('/tmp')).toBe('tmp');
    expect(mounts.get('/data/attachments')).toBe('attachments');
    const claim = pod.volumes.find((v: Doc) => v.name === 'attachments').persistentVolumeClaim.claimName;
    expect(find('PersistentVolumeClaim', claim).spec.accessModes).toEqual(['ReadWriteMany']);
  });

  it('chat Service, PodDisruptionBudget and HorizontalPodAutoscaler point at the Deployment', () => {
    const labels = find('Deployment', 'chat').spec.template.metadata.labels;
    const service = find('Service', 'chat');
    expect(labels).toMatchObject(service.spec.selector);
    expect(service.spec.sessionAffinity).toBe('None');
    expect(service.spec.ports[0]).toMatchObject({ port: 4000, targetPort: 'http' });

    const pdb = find('PodDisruptionBudget', 'chat');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(labels).toMatchObject(pdb.spec.selector.matchLabels);

    const hpa = find('HorizontalPodAutoscaler', 'chat');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'chat' });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
    // HPA on CPU needs CPU requests.
    expect(find('Deployment', 'chat').spec.template.spec.containers[0].resources.requests.cpu).toBeTruthy();
  });

  it('migration Job runs the compose migrate command with the chat image', () => {
    const job = find('Job', 'chat-migrate');
    const pod = job.spec.template.spec;
    const container = pod.containers[0];
    expect(container.image).toBe(find('Deployment', 'chat').spec.template.spec.containers[0].image);
    expect(container.command).toEqual(compose.services.migrate.command);
    expect(['Never', 'OnFailure']).toContain(pod.restartPolicy);
    expect(job.spec.backoffLimit).toBeGreaterThan(0);
    expect(container.env.find((e: Doc) => e.name === 'DATABASE_URL').valueFrom.secretKeyRef.name).toBe('chat-secrets');
    expectSecretsByReference(container, 'migrate');
    expectNonRoot(pod, container, 'migrate');
  });

  it('Secret template has placeholders only, and every key the pods reference', () => {
    const secret = find('Secret', 'chat-secrets');
    for (const [key, value] of Object.entries<string>(secret.stringData)) {
      expect(value === '' || value.includes('REPLACE_ME'), `${key} must be a placeholder`).toBe(true);
    }
    const referenced = new Set<string>();
    for (const { doc } of k8s) {
      const containers: Doc[] = doc.spec?.template?.spec?.containers ?? [];
      for (const c of containers) for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) referenced.add(e.valueFrom.secretKeyRef.key);
    }
    expect([...referenced].sort()).toEqual(Object.keys(secret.stringData).sort());
    expect(readFileSync(path.join(K8S_DIR, 'secret.example.yaml'), 'utf8')).toMatch(/TEMPLATE/);
  });

  it('web Deployment and Service', () => {
    const deployment = find('Deployment', 'web');
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    expectPinned(container.image, 'web');
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(container.readinessProbe.httpGet.port).toBe('http');
    expect(container.livenessProbe.httpGet.port).toBe('http');
    expect(container.ports[0].containerPort).toBe(3000);
    expect(container.env.find((e: Doc) => e.name === 'NEXTAUTH_SECRET').valueFrom.secretKeyRef.key).toBe('NEXTAUTH_SECRET');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStopSleep(container));
    expectSecretsByReference(container, 'web');
    expectNonRoot(pod, container, 'web');
    expect(deployment.spec.template.metadata.labels).toMatchObject(find('Service', 'web').spec.selector);
  });

  it('Ingress: /v1 and /ws to chat, / to web, WebSocket-friendly timeouts, no affinity, no /metrics', () => {
    const ingress = find('Ingress', 'chat');
    const paths: Doc[] = ingress.spec.rules[0].http.paths;
    const route = new Map(paths.map((p) => [p.path, p.backend.service.name]));
    expect(route.get('/v1')).toBe('chat');
    expect(route.get('/ws')).toBe('chat');
    expect(route.get('/')).toBe('web');
    expect([...route.keys()].some((p) => p.includes('metrics'))).toBe(false);
    const annotations: Record<string, string> = ingress.metadata.annotations;
    // Longer than the 25 s heartbeat.
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThan(2 * 25);
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThan(2 * 25);
    expect(Object.keys(annotations).some((k) => /affinity|session-cookie/.test(k))).toBe(false);
  });

  it('pins every image', () => {
    for (const { file, doc } of k8s) {
      for (const c of doc.spec?.template?.spec?.containers ?? []) expectPinned(c.image, `${file} ${c.name}`);
    }
  });
});

describe('infra/nginx/nginx.conf (static)', () => {
  const block = (name: string) => {
    const start = nginxConf.indexOf(name);
    expect(start, name).toBeGreaterThan(-1);
    return nginxConf.slice(start, nginxConf.indexOf('\n        }', start));
  };

  it('balances without stickiness and upgrades WebSockets with long timeouts', () => {
    expect(nginxConf).toMatch(/map \$http_upgrade \$connection_upgrade \{/);
    expect(nginxConf).toMatch(/least_conn;/);
    expect(nginxConf).not.toMatch(/^\s*(ip_hash|hash|sticky)\b/m);
    const ws = block('location = /ws');
    expect(ws).toMatch(/proxy_pass http:\/\/chat;/);
    expect(ws).toMatch(/proxy_buffering off;/);
    expect(Number(/proxy_read_timeout (\d+)s;/.exec(ws)![1])).toBeGreaterThan(25);
    expect(Number(/proxy_send_timeout (\d+)s;/.exec(ws)![1])).toBeGreaterThan(25);
    expect(nginxConf).toMatch(/proxy_set_header Upgrade\s+\$http_upgrade;/);
    expect(nginxConf).toMatch(/proxy_set_header Connection\s+\$connection_upgrade;/);
    // proxy_set_header in a location would silently drop the server-level ones (Host, X-Forwarded-For).
    expect(nginxConf.slice(nginxConf.search(/^\s*location\s/m))).not.toMatch(/^\s*proxy_set_header/m);
  });

  it('retries idempotent requests elsewhere, proxies /v1 and /, hides /metrics', () => {
    expect(block('location /v1/')).toMatch(/proxy_next_upstream error timeout/);
    expect(block('location /v1/')).toMatch(/proxy_pass http:\/\/chat;/);
    expect(block('location / {')).toMatch(/proxy_pass http:\/\/web;/);
    expect(block('location = /metrics')).toMatch(/return 404;/);
    expect(nginxConf).not.toMatch(/^\s*(daemon|pid)\s/m);
  });

  it('render.ts rewrites only the marked lines, and refuses a template without them', async () => {
    const rendered = renderNginxConfig(nginxConf, {
      listen: 9999,
      chatServers: ['10.0.0.1:4000', '10.0.0.2:4000', '10.0.0.3:4000'],
      webServers: ['10.0.0.9:3000'],
      resolver: null,
      user: 'www-data',
    });
    expect(rendered).toMatch(/^\s*listen 9999;$/m);
    expect(rendered.match(/^\s*server 10\.0\.0\.\d:4000 max_fails=1 fail_timeout=5s;$/gm)).toHaveLength(3);
    expect(rendered).toMatch(/^\s*server 10\.0\.0\.9:3000 max_fails=1 fail_timeout=5s;$/m);
    expect(rendered).not.toMatch(/\bresolve\b.*;|^\s*resolver /m);
    expect(rendered).toMatch(/^user www-data;$/m);
    // Everything else is untouched.
    const strip = (c: string) => c.split('\n').filter((l) => !/render:|^\s*(server|listen|user|resolver) /.test(l) && !/^\s*# (user|resolver):/.test(l)).join('\n');
    expect(strip(rendered)).toBe(strip(nginxConf));
    expect(() => renderNginxConfig(nginxConf, { chatServers: [] })).toThrow(/at least one/);
    expect(() => renderNginxConfig(nginxConf, { chatServers: ['not a server'] })).toThrow(/host:port/);
    expect(() => renderNginxConfig(nginxConf.replace('# render:listen', ''), { listen: 1 })).toThrow(/render:listen/);

    // The CLI prints the same.
    const cli = await run(process.execPath, ['--import', 'tsx', 'nginx/render.ts', '--listen', '9999', '--chat', '10.0.0.1:4000', '--web', '10.0.0.9:3000', '--no-resolver'], { cwd: INFRA_DIR });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toBe(renderNginxConfig(nginxConf, { listen: '9999', chatServers: ['10.0.0.1:4000'], webServers: ['10.0.0.9:3000'], resolver: null }));
  });
});
