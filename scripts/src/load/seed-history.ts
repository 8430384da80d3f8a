/**
 * Seeds a large message history for the `history` scenario, in SQL (generate_series), then
 * prints EXPLAIN (ANALYZE, BUFFERS) of the service's own history-page query and the
 * arguments for `pnpm load history`.
 *   pnpm seed:history --database-url URL [--rows 10000000] [--conversations 100] [--chunk 250000]
 * Rows are spread evenly over the conversations (seq 1..rows/conversations each); two users
 * (hist-a, hist-b) are members of all of them. Loopback databases only.
 */
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { MESSAGE_COLUMNS, REACTIONS_COLUMN } from '../../../services/chat/src/db/rows.ts';
import { assertLoopbackUrl, round } from './common.ts';

const { values } = parseArgs({
  options: {
    'database-url': { type: 'string', default: process.env.LOAD_DATABASE_URL },
    rows: { type: 'string', default: '10000000' },
    conversations: { type: 'string', default: '100' },
    chunk: { type: 'string', default: '250000' },
    'page-size': { type: 'string', default: '50' },
    'explain-only': { type: 'boolean', default: false },
  },
});
const url = values['database-url'];
if (!url) {
  console.error('usage: pnpm seed:history --database-url URL [--rows N] [--conversations N]');
  process.exit(2);
}
assertLoopbackUrl(url, '--database-url');
const rows = Number(values.rows);
const conversationCount = Number(values.conversations);
const chunk = Number(values.chunk);
const pageSize = Number(values['page-size']);
if (!(rows > 0 && rows <= 50_000_000) || !(conversationCount >= 1 && conversationCount <= 100_000)) {
  console.error('--rows: 1..50,000,000; --conversations: 1..100,000');
  process.exit(2);
}
const perConversation = Math.ceil(rows / conversationCount);
const sql = postgres(url, { max: 1, onnotice: () => {}, types: { int8: { to: 20, from: [20], serialize: String, parse: Number } } });

const USERS = ['hist-a', 'hist-b'];
const startedAt = performance.now();
/** Makes client_msg_ids unique across seed runs on the same database. */
const runTag = Date.now().toString(36);

if (!values['explain-only']) {
  await sql`insert into users (id, name) select * from unnest(${USERS}::text[], ${USERS.map((u) => `History ${u}`)}::text[]) on conflict do nothing`;
  const ids = await sql<{ id: string }[]>`
    insert into conversations (kind, title, creator_id, last_seq)
    select 'group', 'history ' || g, 'hist-a', ${perConversation} from generate_series(1, ${conversationCount}) g
    returning id`;
  await sql`insert into members (conversation_id, user_id, role)
            select c.id, u.id, case when u.id = 'hist-a' then 'owner' else 'member' end
            from unnest(${ids.map((r) => r.id)}::uuid[]) c(id) cross join unnest(${USERS}::text[]) u(id)`;
  let written = 0;
  for (const [index, { id }] of ids.entries()) {
    for (let from = 1; from <= perConversation; from += chunk) {
      const to = Math.min(perConversation, from + chunk - 1);
      await sql`
        insert into messages (conversation_id, seq, sender_id, client_msg_id, body, created_at)
        select ${id}::uuid, g, case when g % 2 = 0 then 'hist-a' else 'hist-b' end,
               'seed-' || ${runTag}::text || '-' || ${index} || '-' || g,
               'history message ' || g || ' of conversation ' || ${index},
               now() - make_interval(secs => ${perConversation} - g)
        from generate_series(${from}::bigint, ${to}::bigint) g`;
      written += to - from + 1;
      const seconds = (performance.now() - startedAt) / 1000;
      process.stderr.write(`\r${written.toLocaleString()} / ${(perConversation * conversationCount).toLocaleString()} rows, ${round(written / seconds, 0)} rows/s`);
    }
  }
  process.stderr.write('\nanalyze…\n');
  await sql`analyze messages`;
  await sql`analyze conversations`;
  await sql`analyze members`;
  console.log(`seeded ${written.toLocaleString()} messages in ${conversationCount} conversations in ${round((performance.now() - startedAt) / 1000, 1)} s`);
}

const [counted] = await sql<{ total: number }[]>`select count(*)::bigint as total from messages`;
const total = counted?.total ?? 0;
const [target] = await sql<{ id: string; last_seq: number }[]>`
  select c.id, c.last_seq from conversations c join members m on m.conversation_id = c.id and m.user_id = 'hist-a'
  where exists (select 1 from messages x where x.conversation_id = c.id and x.seq = c.last_seq)
  order by c.last_seq desc limit 1`;
if (!target) throw new Error('no seeded conversation found');
const before = Math.floor(target.last_seq / 2);
// The service's history page query (services/chat/src/db/messages.ts historyPage, newest-first branch).
const plan = await sql.unsafe<{ 'QUERY PLAN': string }[]>(
  `explain (analyze, buffers)
   select ${MESSAGE_COLUMNS}, ${REACTIONS_COLUMN} from messages m left join messages p on p.id = m.reply_to_id
   where m.conversation_id = $1 and m.seq < $2
   order by m.seq desc limit $3`,
  [target.id, before, pageSize + 1],
);
console.log(`\nmessages table: ${total.toLocaleString()} rows; conversation ${target.id} has ${target.last_seq.toLocaleString()}`);
console.log(`EXPLAIN (ANALYZE, BUFFERS) of a history page (before=${before}, limit=${pageSize + 1}):`);
for (const line of plan) console.log(`  ${line['QUERY PLAN']}`);
console.log(`\nthen: pnpm load history --targets … --conversation ${target.id} --user hist-a --connections 10 --duration 10`);
await sql.end();
