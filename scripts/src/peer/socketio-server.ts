/**
 * The comparison peer: a plain Socket.IO 4 chat server with @socket.io/postgres-adapter
 * (pg Pool, LISTEN/NOTIFY between instances), on the same PostgreSQL and the same
 * users/members tables as the service. Same room semantics as ours:
 *   - handshake auth { token } (or Authorization: Bearer): the storefront's NextAuth token,
 *     decoded with next-auth/jwt and the service's secret;
 *   - on connect: join the rooms of every conversation the user is a member of, emit `ready`;
 *   - `send` { conversationId, clientMsgId, body } with an ack callback; the message is
 *     broadcast as `message` to the whole room (sender's sockets included, like ours).
 * Two variants: as it comes (no persistence: ack and broadcast at once) and --persist, one
 * awaited INSERT per message into peer_messages before ack + broadcast. Neither has seqs,
 * idempotency or resume: that is the point of the comparison.
 *   node --import tsx scripts/src/peer/socketio-server.ts --port 5001 --database-url URL [--persist]
 */
import { createAdapter } from '@socket.io/postgres-adapter';
import { loadConfig } from '@chat/service/config';
import { decode } from 'next-auth/jwt';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Server } from 'socket.io';
import { assertLoopbackUrl } from '../load/common.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '5001' },
    host: { type: 'string', default: '127.0.0.1' },
    'database-url': { type: 'string' },
    persist: { type: 'boolean', default: false },
    'pool-size': { type: 'string', default: '10' },
  },
});
const databaseUrl = values['database-url'];
if (!databaseUrl) {
  console.error('--database-url is required');
  process.exit(2);
}
assertLoopbackUrl(databaseUrl, '--database-url');
const persist = values.persist;
const secret = loadConfig().authSecrets[0]!;

const pool = new pg.Pool({ connectionString: databaseUrl, max: Number(values['pool-size']) });
pool.on('error', (error) => console.error('postgres pool error', error));
await pool.query(`
  create table if not exists socket_io_attachments (
    id bigserial unique,
    created_at timestamptz default now(),
    payload bytea
  )`);
if (persist) {
  await pool.query(`
    create table if not exists peer_messages (
      id bigserial primary key,
      conversation_id uuid not null,
      sender_id text not null,
      client_msg_id text not null,
      body text not null,
      created_at timestamptz not null default now()
    )`);
}

const http = createServer((request, response) => {
  if (request.url === '/healthz') {
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  } else if (request.url === '/metrics') {
    response.writeHead(200, { 'content-type': 'text/plain' }).end(`process_resident_memory_bytes ${process.memoryUsage().rss}\n`);
  } else if (!request.url?.startsWith('/socket.io')) {
    response.writeHead(404).end();
  }
});

const io = new Server(http, {
  adapter: createAdapter(pool),
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  maxHttpBufferSize: 64 * 1024,
});

io.use(async (socket, next) => {
  const header = socket.handshake.headers.authorization;
  const token = (socket.handshake.auth as { token?: string }).token ?? (header?.startsWith('Bearer ') ? header.slice(7) : undefined);
  try {
    const claims = token ? await decode({ token, secret }) : null;
    if (!claims?.sub) return next(new Error('UNAUTHENTICATED'));
    socket.data.userId = claims.sub;
    next();
  } catch {
    next(new Error('UNAUTHENTICATED'));
  }
});

interface SendPayload {
  conversationId: string;
  clientMsgId: string;
  body: string;
}

io.on('connection', async (socket) => {
  const userId = socket.data.userId as string;
  const { rows } = await pool.query<{ conversation_id: string }>('select conversation_id from members where user_id = $1', [userId]);
  const rooms = rows.map((r) => r.conversation_id);
  const member = new Set(rooms);
  socket.join(rooms);
  socket.on('send', async (payload: SendPayload, ack?: (answer: { ok: boolean; error?: string }) => void) => {
    if (!payload || typeof payload.body !== 'string' || !member.has(payload.conversationId)) {
      ack?.({ ok: false, error: 'FORBIDDEN' });
      return;
    }
    if (persist) {
      try {
        await pool.query('insert into peer_messages (conversation_id, sender_id, client_msg_id, body) values ($1, $2, $3, $4)', [
          payload.conversationId,
          userId,
          payload.clientMsgId,
          payload.body,
        ]);
      } catch (error) {
        ack?.({ ok: false, error: (error as Error).message });
        return;
      }
    }
    ack?.({ ok: true });
    io.to(payload.conversationId).emit('message', { conversationId: payload.conversationId, senderId: userId, clientMsgId: payload.clientMsgId, body: payload.body });
  });
  socket.emit('ready', { rooms });
});

http.listen(Number(values.port), values.host, () => {
  console.error(`socket.io peer${persist ? ' (persisting)' : ''} on http://${values.host}:${values.port}`);
});

const shutdown = () => {
  io.close();
  void pool.end().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
