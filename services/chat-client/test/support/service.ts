/**
 * A real chat service (buildApp on port 0 against a real PostgreSQL, via the service's
 * own harness) and ChatClients wired to it with Node's `ws` and in-memory storage.
 */
import { encode } from 'next-auth/jwt';
import { WebSocket as WS } from 'ws';
import { ChatClient, canTransition, MemoryStorage, type ChatClientOptions, type ConnectionState, type ConversationEvent, type ConversationsInfo, type OutboxItem } from '../../src/index.ts';
import { createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { SECRET } from '@chat/test-support/tokens';

export { eventually, type Instance, type TestDatabase };

/** A NextAuth v4 session token, minted by next-auth itself. Negative maxAge: already expired. */
export function mint(sub: string, maxAge = 3600): Promise<string> {
  return encode({ token: { sub, name: sub }, secret: SECRET, maxAge });
}

export interface Service {
  db: TestDatabase;
  instance: Instance;
  close(): Promise<void>;
}

export async function startService(overrides: Parameters<typeof startInstance>[1] = {}): Promise<Service> {
  const db = await createTestDatabase();
  const instance = await startInstance(db.url, overrides);
  return {
    db,
    instance,
    async close() {
      // Let the server finish each socket's close (presence clean-up) before the database goes.
      await eventually(() => instance.chat.gateway.registry.size === 0, 'sockets closed', 5000).catch(() => {});
      await instance.close();
      await db.drop();
    },
  };
}

/** A client for one user; `token` may be a function to change tokens during a test. */
export function clientFor(instance: Instance, token: string | (() => Promise<string> | string), options: Partial<ChatClientOptions> = {}): ChatClient {
  return new ChatClient({
    wsUrl: instance.ws,
    httpUrl: instance.http,
    getToken: typeof token === 'function' ? token : () => token,
    WebSocket: WS,
    storage: new MemoryStorage(),
    ...options,
  });
}

/** Everything a client emits, for assertions. */
export function record(client: ChatClient) {
  const log = {
    states: [client.state] as ConnectionState[],
    events: [] as ConversationEvent[],
    conversations: [] as ConversationsInfo[],
    outbox: [] as OutboxItem[][],
    /** message.created bodies per conversation, in arrival order. */
    messages(conversationId: string) {
      return log.events.filter((e) => e.type === 'message.created' && e.conversationId === conversationId).map((e) => (e as Extract<ConversationEvent, { type: 'message.created' }>).message);
    },
    /** The status sequence without repeats (queued/lastError changes also emit 'state'). */
    statuses() {
      return log.states.map((s) => s.status).filter((s, i, all) => i === 0 || all[i - 1] !== s);
    },
    /** Every status change is one the state machine allows. */
    illegalTransitions() {
      return log.states.slice(1).filter((s, i) => !canTransition(log.states[i]!.status, s.status)).map((s, i) => `${log.states[i]!.status}→${s.status}`);
    },
  };
  client.on('state', (s) => log.states.push(s));
  client.on('event', (e) => log.events.push(e));
  client.on('conversations', (c) => log.conversations.push(c));
  client.on('outbox', (o) => log.outbox.push(o));
  return log;
}

export function connected(client: ChatClient, transport: 'websocket' | 'polling' = 'websocket') {
  return eventually(() => client.state.status === 'connected' && client.state.transport === transport, `${transport} connection`);
}

export async function rowsWithClientMsgId(db: TestDatabase, clientMsgId: string): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from messages where client_msg_id = ${clientMsgId}`;
  return row!.n;
}
