/** Operations endpoints: liveness, readiness, Prometheus metrics. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Chat } from '../domain/chat.ts';
import type { Bus } from '../fanout/bus.ts';
import type { Metrics } from '../metrics.ts';

/** Probed by the platform, so exempt from the per-IP limit. */
const config = { rateLimit: false };

const Health = Type.Object({ status: Type.Literal('ok') });
const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
  database: Type.Boolean({ description: '`select 1` answered within 1 s' }),
  listener: Type.Boolean({ description: 'The fan-out bus is subscribed: the LISTEN connection (BUS=pg), or the NATS connection with its subscriptions and the JetStream stream (BUS=nats)' }),
  draining: Type.Boolean({ description: 'The instance is shutting down' }),
});
/** Public (`security: []`): the platform probes them without credentials. */
const schemas = {
  healthz: { tags: ['operations'], summary: 'Liveness', security: [], response: { 200: Health } },
  readyz: {
    tags: ['operations'],
    summary: 'Readiness, for the load balancer',
    security: [],
    response: { 200: Readiness, 503: { ...Readiness, description: 'Not ready: a check failed, or the instance is draining.' } },
  },
  metrics: {
    tags: ['operations'],
    summary: 'Prometheus metrics',
    security: [],
    response: { 200: { description: 'Prometheus text format.', content: { 'text/plain': { schema: { type: 'string' } } } } },
  },
};

export function registerOps(app: FastifyInstance, deps: { chat: Pick<Chat, 'ping'>; bus: Bus; metrics: Metrics; isDraining: () => boolean }): void {
  app.get('/healthz', { config, schema: schemas.healthz }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config, schema: schemas.readyz }, async (_request, reply) => {
    const checks = { database: false, listener: deps.bus.listening, draining: deps.isDraining() };
    try {
      await Promise.race([deps.chat.ping(), new Promise((_, reject) => setTimeout(reject, 1000).unref())]);
      checks.database = true;
    } catch {
      // reported below
    }
    const ready = checks.database && checks.listener && !checks.draining;
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', ...checks });
  });

  app.get('/metrics', { config, schema: schemas.metrics }, async (_request, reply) => {
    deps.metrics.listenerUp.set(deps.bus.listening ? 1 : 0);
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}
