/** Operations endpoints: liveness, readiness, Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import type { Sql } from 'postgres';
import type { Bus } from '../fanout/bus.ts';
import type { Metrics } from '../metrics.ts';

/** Probed by the platform, so exempt from the per-IP limit. */
const config = { rateLimit: false };

export function registerOps(app: FastifyInstance, deps: { sql: Sql; bus: Bus; metrics: Metrics; isDraining: () => boolean }): void {
  app.get('/healthz', { config }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config }, async (_request, reply) => {
    const checks = { database: false, listener: deps.bus.listening, draining: deps.isDraining() };
    try {
      await Promise.race([deps.sql`select 1`, new Promise((_, reject) => setTimeout(reject, 1000).unref())]);
      checks.database = true;
    } catch {
      // reported below
    }
    const ready = checks.database && checks.listener && !checks.draining;
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', ...checks });
  });

  app.get('/metrics', { config }, async (_request, reply) => {
    deps.metrics.listenerUp.set(deps.bus.listening ? 1 : 0);
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}
