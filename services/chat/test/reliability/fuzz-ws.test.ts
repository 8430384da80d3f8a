/**
 * Bad input 6 (WebSocket): property-based fuzzing with fast-check against a real instance.
 *  - Hostile batches (garbage, wrong shapes, deep nesting, huge strings, unknown types,
 *    binary frames, well-formed frames aimed at another user's conversation and messages),
 *    sent concurrently: every frame gets exactly one answer and it is a typed error; a ping
 *    after each batch is answered; the database is exactly as before.
 *  - Random plausible frames of every ClientFrame type (random field values drawn from the
 *    user's own ids, foreign ids and junk), one at a time: exactly one ack or typed error
 *    each; when the answer is an error, the database is exactly as before.
 *  - Invalid UTF-8 closes that socket with 1007; an oversize frame closes it with 1009.
 * The instance never crashes (no INTERNAL error, no dropped socket, /healthz answers).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '../support/harness.ts';
import { mintV4, mintV5 } from '../support/tokens.ts';
import { TestClient, type Frame } from '../support/ws-client.ts';
import { printSummary } from './support/checker.ts';
import { hostileFrame, invalidUtf8, plausibleFrame, type Targets, type Wire } from './support/fuzz-arbitraries.ts';
import { call, group, users } from './support/setup.ts';

let db: TestDatabase;
let main: Instance;
let client: TestClient;
let alice: string;
let targets: Targets;
const extra: TestClient[] = [];
const counts = { frames: 0, acks: 0, errors: 0, crashes: 0, closes1007: 0, closes1009: 0, byCode: {} as Record<string, number> };

beforeAll(async () => {
  db = await createTestDatabase();
  main = await startInstance(db.url);
  const tokens = await users(main, ['alice', 'bob', 'carol', 'dave']);
  alice = tokens.alice!;
  const ours = await group(main, alice, 'ours', ['bob']);
  const theirs = await group(main, tokens.carol!, 'theirs', ['dave']);
  const send = async (token: string, conversationId: string, clientMsgId: string) =>
    (await call(main, token, 'POST', `/v1/conversations/${conversationId}/messages`, { clientMsgId, body: 'seed' })).body.message.id as string;
  const mine = await send(alice, ours, 'seed-a');
  const bobs = await send(tokens.bob!, ours, 'seed-b');
  const carols = await send(tokens.carol!, theirs, 'seed-c');
  targets = {
    own: [ours, mine, bobs],
    foreign: [theirs, carols],
    tokens: [alice, tokens.bob!, await mintV5({ sub: 'alice' }), await mintV4({ sub: 'alice' }, { maxAge: -3600 })],
  };
  client = await TestClient.live(main.ws, alice);
});

afterAll(async () => {
  await Promise.all([client, ...extra].map((c) => c?.close()));
  await main?.close();
  await db?.drop();
});

/** Row counts plus every counter a write moves: any accepted write changes at least one. */
async function snapshot(): Promise<Record<string, number>> {
  const [row] = await db.sql<[Record<string, number>]>`select
    (select count(*) from messages)::int as messages,
    (select count(*) from events)::int as events,
    (select count(*) from members)::int as members,
    (select count(*) from reactions)::int as reactions,
    (select count(*) from message_edits)::int as edits,
    (select count(*) from conversations)::int as conversations,
    (select coalesce(sum(last_seq), 0)::int from conversations) as seqs,
    (select coalesce(sum(last_read_seq + last_delivered_seq), 0)::int from members) as receipts,
    (select count(*) from messages where deleted_at is not null or edited_at is not null)::int as changed`;
  return row;
}

let nextId = 0;
/** The text (or bytes) to send, and the id the server must echo (null when it cannot know one). */
function encode(input: Wire | Record<string, unknown>): { wire: Wire; echo: string | null } {
  if ('binary' in input && input.binary === true) return { wire: input as Wire, echo: null };
  let text: string;
  if ('text' in input && typeof input.text === 'string' && Object.keys(input).length === 1) text = input.text.replace('@@ID@@', `fz${++nextId}`);
  else {
    const frame = { ...(input as Record<string, unknown>) };
    if (frame.id === null) frame.id = `fz${++nextId}`;
    text = JSON.stringify(frame);
  }
  let echo: string | null = null;
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const id = (value as { id?: unknown }).id;
      if (typeof id === 'string' && id.length > 0 && id.length <= 64) echo = id;
    }
  } catch {
    // not JSON: the answer carries id null
  }
  return { wire: { text }, echo };
}

function sendWire(wire: Wire): void {
  counts.frames++;
  if (wire.binary) client.sendRaw(Buffer.from(wire.bytes), true);
  else client.sendRaw(wire.text);
}

function tally(answers: Frame[]): void {
  for (const answer of answers) {
    if (answer.type === 'ack') counts.acks++;
    else {
      counts.errors++;
      counts.byCode[answer.code] = (counts.byCode[answer.code] ?? 0) + 1;
      if (answer.code === 'INTERNAL') counts.crashes++;
    }
  }
}

/** Sends a batch at once; checks one answer per frame, a live ping, and returns the answers. */
async function batch(inputs: (Wire | Record<string, unknown>)[]): Promise<Frame[]> {
  const start = client.frames.length;
  const expected = new Map<string | null, number>();
  for (const input of inputs) {
    const { wire, echo } = encode(input);
    expected.set(echo, (expected.get(echo) ?? 0) + 1);
    sendWire(wire);
  }
  const answersOf = () => client.frames.slice(start).filter((f) => (f.type === 'ack' || f.type === 'error') && !String(f.id).startsWith('__ping'));
  await eventually(() => answersOf().length >= inputs.length, `${inputs.length} answers`, 20_000);
  // No hang: the socket still answers a ping after the batch.
  expect(await client.request({ type: 'ping', id: `__ping${++nextId}` })).toEqual({ time: expect.any(String) });
  const answers = answersOf();
  const got = new Map<string | null, number>();
  for (const answer of answers) got.set(answer.id ?? null, (got.get(answer.id ?? null) ?? 0) + 1);
  expect(Object.fromEntries(got)).toEqual(Object.fromEntries(expected));
  expect(client.closeCode).toBeNull();
  tally(answers);
  return answers;
}

it('hostile frames in concurrent batches: one typed error each, a live socket, an unchanged database', async () => {
  const before = await snapshot();
  await fc.assert(
    fc.asyncProperty(fc.array(hostileFrame(targets), { minLength: 20, maxLength: 60 }), async (inputs) => {
      const answers = await batch(inputs);
      for (const answer of answers) {
        expect(answer.type, JSON.stringify(answer)).toBe('error');
        expect(answer).toMatchObject({ code: expect.any(String), message: expect.any(String), retryable: expect.any(Boolean) });
        expect(answer.code).not.toBe('INTERNAL');
      }
      expect(await snapshot()).toEqual(before);
    }),
    { numRuns: 80, endOnFailure: true },
  );
}, 50_000);

it('random plausible frames of every type, one at a time: one ack or typed error each; errors change nothing', async () => {
  const ids = [...targets.own, ...targets.foreign];
  await fc.assert(
    fc.asyncProperty(plausibleFrame(ids, targets.tokens), async (frame) => {
      const before = await snapshot();
      const [answer] = await batchOne(frame);
      if (answer!.type === 'error') {
        expect(answer!.code).not.toBe('INTERNAL');
        expect(await snapshot()).toEqual(before);
      }
    }),
    { numRuns: 500, endOnFailure: true },
  );
}, 50_000);

/** One frame, its single answer (no ping per frame: the batch test covers liveness). */
async function batchOne(input: Record<string, unknown>): Promise<Frame[]> {
  const start = client.frames.length;
  const { wire, echo } = encode(input);
  sendWire(wire);
  const isAnswer = (f: Frame) => (f.type === 'ack' || f.type === 'error') && (f.id ?? null) === echo;
  const answer = await eventually(() => client.frames.slice(start).find(isAnswer), `the answer to ${wire.binary ? 'binary' : wire.text.slice(0, 300)}`).catch(
    (error) => {
      throw new Error(`${String(error)}; socket closed: ${client.closeCode}; frames since: ${JSON.stringify(client.frames.slice(start)).slice(0, 1500)}`);
    },
  );
  tally([answer]);
  expect(client.closeCode).toBeNull();
  return [answer];
}

it('invalid UTF-8 closes with 1007 and an oversize frame with 1009; the instance and the data survive', async () => {
  const before = await snapshot();
  for (const bytes of fc.sample(invalidUtf8, 20)) {
    const victim = await TestClient.connect(main.ws, { token: alice });
    extra.push(victim);
    counts.frames++;
    victim.sendRaw(bytes, false);
    expect(await victim.waitClosed()).toBe(1007);
    counts.closes1007++;
  }
  for (const size of fc.sample(fc.integer({ min: 64 * 1024 + 1, max: 400_000 }), 8)) {
    const victim = await TestClient.connect(main.ws, { token: alice });
    extra.push(victim);
    counts.frames++;
    victim.sendRaw(JSON.stringify({ type: 'message.send', id: 'big', conversationId: targets.own[0], clientMsgId: `big-${size}`, body: 'o'.repeat(size) }));
    expect(await victim.waitClosed()).toBe(1009);
    counts.closes1009++;
  }
  expect(await client.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
  expect((await fetch(`${main.http}/healthz`)).status).toBe(200);
  expect(await snapshot()).toEqual(before);
  expect(client.closeCode).toBeNull();

  printSummary({
    scenario: 'fuzz: WebSocket frames',
    framesTried: counts.frames,
    acks: counts.acks,
    typedErrors: counts.errors,
    closes1007: counts.closes1007,
    closes1009: counts.closes1009,
    crashes: counts.crashes,
    errorsByCode: counts.byCode,
  });
  expect(counts.crashes).toBe(0);
  expect(counts.frames).toBeGreaterThan(3000);
}, 30_000);
