/**
 * The HTTP side of limits.ts: every /v1 route declares `config: { cost }` next to its
 * handler, and the /v1 scope charges it to the caller right after authentication, before
 * the body is read (app.ts). A /v1 route that declares no cost fails at start-up.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Cost } from '../limits.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route takes from the caller's budgets (limits.ts); required under /v1. */
    cost?: Cost;
  }
}

/** Makes every route registered in `scope` (after this call) declare its cost. */
export function requireRouteCosts(scope: FastifyInstance): void {
  scope.addHook('onRoute', (route) => {
    if (route.config?.cost === undefined) throw new Error(`${String(route.method)} ${route.url} declares no cost (config.cost, see limits.ts)`);
  });
}

/** The matched route's declared cost. */
export function routeCost(request: FastifyRequest): Cost {
  const cost = request.routeOptions.config.cost;
  if (cost === undefined) throw new Error(`${request.method} ${request.routeOptions.url} declares no cost`);
  return cost;
}
