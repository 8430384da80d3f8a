/**
 * The upper-bound reference: one process, `ws`, no database, no auth check. Speaks the frames
 * our driver uses (ready, resume naming the rooms to join, message.send → ack, message.created
 * with an in-memory per-room seq), so `--driver raw` measures the same client code against the
 * cheapest possible broadcast.
 *   node --import tsx scripts/src/peer/raw-server.ts --port 5100
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';

const { values } = parseArgs({ options: { port: { type: 'string', default: '5100' }, host: { type: 'string', default: '127.0.0.1' } } });

interface Room {
  seq: number;
  members: Set<WebSocket>;
}
const rooms = new Map<string, Room>();

const http = createServer((request, response) => {
  if (request.url === '/healthz') response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  else if (request.url === '/metrics') response.writeHead(200, { 'content-type': 'text/plain' }).end(`process_resident_memory_bytes ${process.memoryUsage().rss}\n`);
  else response.writeHead(404).end();
});
const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on('connection', (socket, request) => {
  const userId = String(request.headers['x-load-user'] ?? 'anonymous');
  const joined = new Set<Room>();
  socket.send(JSON.stringify({ type: 'ready', protocol: 1, connectionId: randomUUID(), userId, heartbeatMs: 25_000, sessionExpiresAt: null }));
  socket.on('message', (data) => {
    let frame: { type?: string; id?: string; conversations?: Record<string, number>; conversationId?: string; clientMsgId?: string; body?: string };
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (frame.type === 'resume') {
      const conversations = Object.keys(frame.conversations ?? {}).map((id) => {
        let room = rooms.get(id);
        if (!room) rooms.set(id, (room = { seq: 0, members: new Set() }));
        room.members.add(socket);
        joined.add(room);
        return { id, lastSeq: room.seq };
      });
      socket.send(JSON.stringify({ type: 'ack', id: frame.id, result: { conversations, replayed: 0 } }));
    } else if (frame.type === 'message.send') {
      const room = rooms.get(frame.conversationId ?? '');
      if (!room || !room.members.has(socket)) {
        socket.send(JSON.stringify({ type: 'error', id: frame.id, code: 'FORBIDDEN', message: 'not a member', retryable: false }));
        return;
      }
      const seq = ++room.seq;
      const message = {
        id: randomUUID(),
        conversationId: frame.conversationId,
        seq,
        senderId: userId,
        clientMsgId: frame.clientMsgId,
        body: frame.body,
        replyToId: null,
        attachments: [],
        createdAt: new Date().toISOString(),
        editedAt: null,
        deletedAt: null,
      };
      socket.send(JSON.stringify({ type: 'ack', id: frame.id, result: { message, duplicate: false } }));
      const event = JSON.stringify({ type: 'message.created', conversationId: frame.conversationId, seq, message });
      for (const member of room.members) member.send(event);
    }
  });
  socket.on('close', () => {
    for (const room of joined) room.members.delete(socket);
  });
});

http.listen(Number(values.port), values.host, () => console.error(`raw ws reference on ws://${values.host}:${values.port}/ws`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
