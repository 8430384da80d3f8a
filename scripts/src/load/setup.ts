/**
 * Users, tokens and conversations for a run.
 *  - api:   every user calls GET /v1/me (the service upserts it), then the first member of each
 *           room creates it with POST /v1/conversations {memberIds} (DMs: POST /v1/conversations/direct).
 *           Exercises the real API; about 1–2 ms per call, fine up to a few thousand users.
 *  - db:    rows written straight into users/conversations/members with --database-url (one
 *           statement per table): the way for thousands of users and for the Socket.IO peer,
 *           which has no HTTP API.
 *  - local: no database at all (the raw ws reference server): conversation ids are made up here.
 * Tokens are minted like the storefront's NextAuth v4 does (next-auth/jwt encode) with the
 * secret the service itself is configured with (loadConfig of @chat/service/config).
 */
import { loadConfig } from '@chat/service/config';
import { encode } from 'next-auth/jwt';
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { httpBase, pool } from './common.ts';

export interface LoadUser {
  index: number;
  id: string;
  token: string;
  /** Index into the target list (round-robin). */
  target: number;
  conversations: string[];
}

export interface Room {
  id: string;
  /** User indexes. */
  members: number[];
}

export interface Population {
  runId: string;
  users: LoadUser[];
  rooms: Room[];
}

export type SetupMode = 'api' | 'db' | 'local';

export interface SetupOptions {
  clients: number;
  /** Members per room; 2 for DMs; 0: users only, no rooms. */
  roomSize: number;
  direct?: boolean;
  targets: string[];
  mode: SetupMode;
  databaseUrl?: string | undefined;
  /** Token lifetime, seconds. */
  tokenTtlSec?: number;
  runId?: string;
  /** Secret override (tests); default: the service's configured secret. */
  secret?: string;
}

export function serviceSecret(): string {
  return loadConfig().authSecrets[0]!;
}

export async function mintToken(userId: string, secret: string, ttlSec = 3600): Promise<string> {
  return encode({ token: { sub: userId, name: `Load ${userId}` }, secret, maxAge: ttlSec });
}

export async function createPopulation(options: SetupOptions): Promise<Population> {
  const runId = options.runId ?? `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const secret = options.secret ?? serviceSecret();
  const ttl = options.tokenTtlSec ?? 3600;
  const users: LoadUser[] = [];
  for (let i = 0; i < options.clients; i++) {
    users.push({ index: i, id: `lt-${runId}-${i}`, token: '', target: i % options.targets.length, conversations: [] });
  }
  // Minting is ~0.1 ms of crypto each; a pool keeps the loop responsive.
  await pool(users, 64, async (u) => {
    u.token = await mintToken(u.id, secret, ttl);
  });

  // Consecutive users form a room, and consecutive users sit on different targets (round-robin),
  // so every room spans the targets.
  const rooms: Room[] = [];
  const size = options.direct ? 2 : options.roomSize;
  if (size >= 2) {
    for (let start = 0; start + size <= users.length; start += size) {
      rooms.push({ id: '', members: Array.from({ length: size }, (_, k) => start + k) });
    }
  }

  if (options.mode === 'local') {
    for (const room of rooms) room.id = randomUUID();
  } else if (options.mode === 'db') {
    if (!options.databaseUrl) throw new Error('setup mode db needs --database-url');
    await setupInDatabase(options.databaseUrl, users, rooms, !!options.direct);
  } else {
    await setupThroughApi(options.targets, users, rooms, !!options.direct);
  }
  for (const room of rooms) for (const m of room.members) users[m]!.conversations.push(room.id);
  return { runId, users, rooms };
}

async function api<T>(base: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

async function setupThroughApi(targets: string[], users: LoadUser[], rooms: Room[], direct: boolean): Promise<void> {
  const bases = targets.map(httpBase);
  const results = await pool(users, 32, (u) => api(bases[u.target]!, u.token, 'GET', '/v1/me'));
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length) throw new Error(`GET /v1/me failed for ${failed.length} users: ${String((failed[0] as PromiseRejectedResult).reason)}`);
  const created = await pool(rooms, 16, async (room, i) => {
    const creator = users[room.members[0]!]!;
    const others = room.members.slice(1).map((m) => users[m]!.id);
    const conversation = direct
      ? await api<{ id: string }>(bases[creator.target]!, creator.token, 'POST', '/v1/conversations/direct', { userId: others[0] })
      : await api<{ id: string }>(bases[creator.target]!, creator.token, 'POST', '/v1/conversations', { title: `load room ${i}`, memberIds: others });
    room.id = conversation.id;
  });
  const bad = created.filter((r) => r.status === 'rejected');
  if (bad.length) throw new Error(`creating ${bad.length} conversations failed: ${String((bad[0] as PromiseRejectedResult).reason)}`);
}

async function setupInDatabase(url: string, users: LoadUser[], rooms: Room[], direct: boolean): Promise<void> {
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  try {
    const CHUNK = 5000;
    for (let i = 0; i < users.length; i += CHUNK) {
      const chunk = users.slice(i, i + CHUNK);
      await sql`insert into users (id, name) select * from unnest(${chunk.map((u) => u.id)}::text[], ${chunk.map((u) => `Load ${u.id}`)}::text[])
                on conflict (id) do nothing`;
    }
    for (const room of rooms) room.id = randomUUID();
    for (let i = 0; i < rooms.length; i += CHUNK) {
      const chunk = rooms.slice(i, i + CHUNK);
      const ids = chunk.map((r) => r.id);
      const creators = chunk.map((r) => users[r.members[0]!]!.id);
      if (direct) {
        const keys = chunk.map((r) => r.members.map((m) => users[m]!.id).sort().join(' '));
        await sql`insert into conversations (id, kind, creator_id, direct_key)
                  select id, 'direct', c, k from unnest(${ids}::uuid[], ${creators}::text[], ${keys}::text[]) v(id, c, k)`;
      } else {
        const titles = chunk.map((_, k) => `load room ${i + k}`);
        await sql`insert into conversations (id, kind, title, creator_id)
                  select id, 'group', t, c from unnest(${ids}::uuid[], ${titles}::text[], ${creators}::text[]) v(id, t, c)`;
      }
      const memberConv: string[] = [];
      const memberUser: string[] = [];
      const memberRole: string[] = [];
      for (const room of chunk) {
        room.members.forEach((m, k) => {
          memberConv.push(room.id);
          memberUser.push(users[m]!.id);
          memberRole.push(!direct && k === 0 ? 'owner' : 'member');
        });
      }
      await sql`insert into members (conversation_id, user_id, role)
                select * from unnest(${memberConv}::uuid[], ${memberUser}::text[], ${memberRole}::text[])`;
    }
    // Planner statistics now, as a live database has them: right after a bulk insert (before
    // autovacuum's first ANALYZE, up to a minute later) the membership lookup of every resume
    // was planned as a seq scan of all conversations with one members probe each (1.15 ms
    // instead of 0.03 ms at 1,000 rooms), which made resume storms bimodal (5 s or 11 s).
    await sql`analyze users, conversations, members`;
  } finally {
    await sql.end({ timeout: 2 });
  }
}
