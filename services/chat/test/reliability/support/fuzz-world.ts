/**
 * The small world every fuzzer plays in: alice and bob share a group ("ours"), carol and
 * dave another ("theirs"), one message each. The fuzzing user is alice; "theirs" is the
 * conversation she must never reach. Built over the real HTTP API of any instance.
 */
import type { Sql } from 'postgres';
import { mintV4, mintV5 } from '@chat/test-support/tokens';
import type { Targets } from './fuzz-arbitraries.ts';
import { call, group, type Http } from './setup.ts';

export interface FuzzWorld {
  tokens: { alice: string; bob: string; carol: string; dave: string };
  /** alice's token, expired an hour ago. */
  expired: string;
  ours: string;
  theirs: string;
  /** Ids alice may use: her conversation, her message, bob's message there. */
  own: string[];
  /** carol's conversation and message. */
  foreign: string[];
  /** What the WebSocket generators draw from. */
  targets: Targets;
}

/** `ttlSec`: how long the tokens live (a long run must outlive the default hour). */
export async function seedWorld(instance: Http, options: { ttlSec?: number } = {}): Promise<FuzzWorld> {
  const maxAge = options.ttlSec ?? 3600;
  const mint = (sub: string) => mintV4({ sub, name: sub }, { maxAge });
  const tokens = { alice: await mint('alice'), bob: await mint('bob'), carol: await mint('carol'), dave: await mint('dave') };
  for (const token of Object.values(tokens)) {
    const me = await call(instance, token, 'GET', '/v1/me');
    if (me.status !== 200) throw new Error(`GET /v1/me: ${me.status} ${JSON.stringify(me.body)}`);
  }
  const ours = await group(instance, tokens.alice, 'ours', ['bob']);
  const theirs = await group(instance, tokens.carol, 'theirs', ['dave']);
  const send = async (token: string, conversationId: string, clientMsgId: string) => {
    const sent = await call(instance, token, 'POST', `/v1/conversations/${conversationId}/messages`, { clientMsgId, body: 'seed' });
    if (sent.status >= 300) throw new Error(`seed message: ${sent.status} ${JSON.stringify(sent.body)}`);
    return sent.body.message.id as string;
  };
  const own = [ours, await send(tokens.alice, ours, 'seed-a'), await send(tokens.bob, ours, 'seed-b')];
  const foreign = [theirs, await send(tokens.carol, theirs, 'seed-c')];
  const expired = await mintV4({ sub: 'alice' }, { maxAge: -3600 });
  return {
    tokens,
    expired,
    ours,
    theirs,
    own,
    foreign,
    targets: { own, foreign, tokens: [tokens.alice, tokens.bob, await mintV5({ sub: 'alice' }, { maxAge }), expired] },
  };
}

/**
 * Row counts plus every counter a write moves: any accepted write, over HTTP or the
 * socket, changes at least one; a refused one must change none.
 */
export async function snapshot(sql: Sql): Promise<Record<string, number>> {
  const [row] = await sql<[Record<string, number>]>`select
    (select count(*) from messages)::int as messages,
    (select count(*) from events)::int as events,
    (select count(*) from members)::int as members,
    (select count(*) from reactions)::int as reactions,
    (select count(*) from message_edits)::int as edits,
    (select count(*) from attachments)::int as attachments,
    (select count(*) from conversations)::int as conversations,
    (select count(*) from conversations where deleted_at is null)::int as live_conversations,
    (select count(*) from users)::int as users,
    (select coalesce(sum(last_seq), 0)::int from conversations) as seqs,
    (select coalesce(sum(last_read_seq + last_delivered_seq), 0)::int from members) as receipts,
    (select count(*) from members where muted)::int as muted,
    (select count(*) from messages where deleted_at is not null or edited_at is not null)::int as changed`;
  return row;
}
