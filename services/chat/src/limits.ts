/**
 * Per-user budgets, charged before any work. Every WebSocket frame (ws/handlers.ts) and
 * every /v1 route (http/*.ts) declares its Cost next to its handler; the frame dispatcher
 * and one route hook (http/route-costs.ts) charge it before the handler runs, so a refused
 * request has touched nothing. Budgets are per user and per instance, in memory.
 */
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from './config.ts';
import { AppError } from './errors.ts';

/**
 * - `sends`: message sends, reactions and attachment uploads.
 * - `typing`: typing frames (each one a NOTIFY).
 * - `db`: every other database read or write, in points (below).
 * - `groups`: new groups.
 */
export type BudgetName = 'sends' | 'typing' | 'db' | 'groups';

/** Points a frame or route takes from each budget. `{}`: it never touches the database. */
export type Cost = Readonly<Partial<Record<BudgetName, number>>>;

/** `db` points: a read is cheap, a write locks a conversation row, a search scans every conversation of the user. */
export const DB_POINTS = { read: 1, write: 4, search: 4 } as const;

export const COST = {
  /** No database work: ping, auth.refresh. */
  none: {},
  /** An access check and an indexed read (a page, a row, a list). */
  read: { db: DB_POINTS.read },
  /** A transaction: edits, deletes, receipts, membership and settings changes, a direct conversation. */
  write: { db: DB_POINTS.write },
  search: { db: DB_POINTS.search },
  send: { sends: 1 },
  typing: { typing: 1 },
  createGroup: { groups: 1, db: DB_POINTS.write },
} as const satisfies Record<string, Cost>;

/** A resume: the membership and seq reads, then up to one replay read per conversation it names. */
export function resumeCost(namedConversations: number): Cost {
  return { db: 2 + namedConversations };
}

/** Typing frames per user per second (not configurable). */
export const TYPING_PER_SEC = 10;

export type LimitsConfig = Pick<Config, 'sendRatePerSec' | 'sendBurst' | 'dbWorkPerSec' | 'dbWorkBurst' | 'groupCreatesPerHour'>;

interface Budget {
  limiter: RateLimiterMemory | BurstyRateLimiter;
  /** The largest charge the budget can admit at once: a larger cost is charged this much, so it can still pass. */
  capacity: number;
  message: string;
}

/** Scarcest first, so a request refused by one budget has not spent the others. */
const ORDER: BudgetName[] = ['groups', 'sends', 'typing', 'db'];

export class UserLimits {
  private readonly budgets: Record<BudgetName, Budget>;

  constructor(config: LimitsConfig) {
    this.budgets = {
      sends: perSecond('sends', config.sendRatePerSec, config.sendBurst, 'Too many messages, reactions or uploads; slow down.'),
      typing: perSecond('typing', TYPING_PER_SEC, TYPING_PER_SEC, 'Too many typing updates; slow down.'),
      db: perSecond('db', config.dbWorkPerSec, config.dbWorkBurst, 'Too many requests; slow down.'),
      groups: {
        limiter: new RateLimiterMemory({ keyPrefix: 'groups', points: config.groupCreatesPerHour, duration: 3600 }),
        capacity: config.groupCreatesPerHour,
        message: 'Too many new groups; try again later.',
      },
    };
  }

  /** Takes `cost` from the user's budgets, or throws RATE_LIMITED with `retryAfterMs` and the budget's name. */
  async charge(userId: string, cost: Cost): Promise<void> {
    for (const name of ORDER) {
      const points = cost[name];
      if (!points) continue;
      const budget = this.budgets[name];
      try {
        await budget.limiter.consume(userId, Math.min(points, budget.capacity));
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const retryAfterMs = Math.max(1, Math.ceil(rejection.msBeforeNext));
        throw new AppError('RATE_LIMITED', budget.message, { retryAfterMs, budget: name });
      }
    }
  }
}

/**
 * About a token bucket: `rate` points every second, and up to `burst` at once, the extra
 * (burst - rate) refilling over burst / rate seconds.
 */
function perSecond(prefix: string, rate: number, burst: number, message: string): Budget {
  const steady = new RateLimiterMemory({ keyPrefix: prefix, points: rate, duration: 1 });
  const extra = burst - rate;
  if (extra <= 0) return { limiter: steady, capacity: rate, message };
  const reserve = new RateLimiterMemory({ keyPrefix: `${prefix}-burst`, points: extra, duration: Math.ceil(burst / rate) });
  return { limiter: new BurstyRateLimiter(steady, reserve), capacity: Math.max(rate, extra), message };
}
