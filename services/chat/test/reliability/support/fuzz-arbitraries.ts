/**
 * fast-check generators for hostile and random-but-plausible client input: WebSocket
 * frames (fuzz-ws.ts) and HTTP requests (fuzz-http.ts). The generators of the parsers
 * fuzzed directly live beside their properties (fuzz-bus-codec.ts, fuzz-auth.ts).
 */
import { CLIENT_FRAME_TYPES } from '@chat/protocol';
import fc from 'fast-check';

export interface Targets {
  /** Ids the fuzzing user may use: its conversation, its message, a member's message. */
  own: string[];
  /** Ids of another users' conversation and messages. */
  foreign: string[];
  tokens: string[];
}

const OMIT = Symbol('omit');

/** A request id: a fresh usable one (null here, filled in at send time), or a mangled one. */
export const idArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constant(''), fc.constant('i'.repeat(65)), fc.constant(OMIT), fc.jsonValue({ maxDepth: 1 }), fc.boolean()) },
);

export function uuidArb(ids: string[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...ids) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.constantFrom(...ids).map((id) => id.toUpperCase()) },
    { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 40 }), fc.constant('00000000-0000-0000-0000-000000000000'), fc.integer(), fc.constant(null)) },
  );
}

const seqArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 0, max: 50 }),
  fc.integer({ min: -1000, max: 1_000_000 }),
  fc.constantFrom(-1, 2 ** 53, 2 ** 53 + 2, 1.5, -0, 1e308),
  fc.double(),
  fc.string({ maxLength: 5 }),
  fc.constant(null),
);

const bodyArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' \n\t ', '\u0000', 'a'.repeat(4000), 'a'.repeat(4001), '\u{1F600}'.repeat(2001)) },
  // Around the schema's bound (a sealed envelope's, LIMITS.maxEnvelopeChars) and an envelope's prefix in a plain conversation.
  { weight: 1, arbitrary: fc.constantFrom('a'.repeat(49_152), 'a'.repeat(49_153), '{"v":1,"alg":"x"}', '{"v":1') },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), fc.object({ maxDepth: 1 })) },
);

const emojiArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom('👍', '❤️', 'ok', '+1', 'a b', '\u0000', 'x'.repeat(33), ''),
  fc.string({ maxLength: 40 }),
  fc.integer(),
);

const clientMsgIdArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ minLength: 1, maxLength: 20 }).map((s) => `fz-${s}`),
  fc.constantFrom('', 'c'.repeat(64), 'c'.repeat(65)),
  fc.integer(),
);

function fieldsFor(type: string, ids: string[], tokens: string[]): Record<string, fc.Arbitrary<unknown>> {
  const conversationId = uuidArb(ids);
  const messageId = uuidArb(ids);
  switch (type) {
    case 'ping':
      return {};
    case 'resume':
      return { conversations: fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom(...ids), fc.string({ maxLength: 40 })), seqArb, { maxKeys: 4 }), fc.jsonValue({ maxDepth: 2 })) };
    case 'message.send':
      return {
        conversationId,
        clientMsgId: clientMsgIdArb,
        body: bodyArb,
        replyToId: fc.oneof(fc.constant(OMIT), messageId),
        attachmentIds: fc.oneof(fc.constant(OMIT), fc.array(uuidArb(ids), { maxLength: 12 })),
      };
    case 'message.edit':
      return { conversationId, messageId, body: bodyArb };
    case 'message.delete':
      return { conversationId, messageId };
    case 'reaction.add':
    case 'reaction.remove':
      return { conversationId, messageId, emoji: emojiArb };
    case 'read.mark':
    case 'delivered.mark':
      return { conversationId, upTo: seqArb };
    case 'typing.start':
    case 'typing.stop':
      return { conversationId };
    case 'auth.refresh':
      return { token: fc.oneof(fc.constantFrom(...tokens), fc.string({ maxLength: 300 }), fc.constantFrom(...tokens).map((t) => `${t.slice(0, -4)}AAAA`), fc.integer()) };
    default:
      return {};
  }
}

/** Null 7 times in 8. */
function rarely<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });
}

/**
 * A frame of a protocol type with random field values drawn from `ids`: fields sometimes
 * dropped, sometimes replaced by a value of the wrong type, sometimes an extra field.
 */
export function plausibleFrame(ids: string[], tokens: string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc.constantFrom(...CLIENT_FRAME_TYPES).chain((type) => {
    const fields = fieldsFor(type, ids, tokens);
    const keys = Object.keys(fields);
    return fc
      .record({
        values: fc.record(fields as Record<string, fc.Arbitrary<unknown>>),
        id: idArb,
        drop: rarely(fc.constantFrom(...(keys.length ? keys : ['id']))),
        wrongType: rarely(fc.tuple(fc.constantFrom(...(keys.length ? keys : ['type'])), fc.jsonValue({ maxDepth: 2 }))),
        extra: rarely(fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 1 }))),
      })
      .map(({ values, id, drop, wrongType, extra }) => {
        const frame: Record<string, unknown> = { type };
        if (id !== OMIT) frame.id = id;
        for (const [key, value] of Object.entries(values)) if (value !== OMIT) frame[key] = value;
        if (drop) delete frame[drop];
        if (wrongType) frame[wrongType[0]] = wrongType[1];
        if (extra && !(extra[0] in frame)) frame[extra[0]] = extra[1];
        return frame;
      });
  });
}

export type Wire = { text: string; binary?: false } | { bytes: Uint8Array; binary: true };

/** Input that must always be refused: garbage, wrong shapes, deep nesting, huge strings, unknown types, binary, other users' ids. */
export function hostileFrame(targets: Targets): fc.Arbitrary<Wire | Record<string, unknown>> {
  // Nesting stays under the 64 KiB frame limit (oversize frames are tested on their own).
  const deep = fc.oneof(
    fc.integer({ min: 50, max: 20_000 }).map((depth) => ({ text: `${'['.repeat(depth)}${']'.repeat(depth)}` })),
    fc.integer({ min: 50, max: 10_000 }).map((depth) => ({ text: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` })),
  );
  // As text (a nested value would overflow fast-check's own printer); "@@ID@@" becomes a fresh id.
  const deepInFrame = fc.integer({ min: 50, max: 10_000 }).map((depth) => ({
    text: `{"type":"message.send","id":"@@ID@@","conversationId":"${targets.own[0]}","clientMsgId":"deep","body":${'['.repeat(depth)}${']'.repeat(depth)}}`,
  }));
  const huge = fc
    .tuple(fc.integer({ min: 4001, max: 60_000 }), fc.constantFrom(['message.send', 'body'], ['message.edit', 'body'], ['auth.refresh', 'token'], ['reaction.add', 'emoji'], ['message.send', 'clientMsgId']))
    .map(([n, [type, field]]) => ({
      type,
      id: null,
      conversationId: targets.own[0],
      messageId: targets.own[1],
      ...(type === 'message.send' ? { clientMsgId: 'huge', body: 'b' } : {}),
      [field!]: 'h'.repeat(n),
    }));
  return fc.oneof(
    fc.string({ maxLength: 200 }).map((text) => ({ text })),
    fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ text })),
    fc.jsonValue({ maxDepth: 4 }).map((value) => ({ text: JSON.stringify(value) ?? 'null' })),
    fc.jsonValue({ maxDepth: 3 }).map((value) => ({ text: JSON.stringify({ value }).slice(0, -1) })),
    deep,
    deepInFrame,
    huge,
    fc.tuple(fc.string({ maxLength: 30 }).filter((t) => !(CLIENT_FRAME_TYPES as string[]).includes(t)), fc.jsonValue({ maxDepth: 2 })).map(([type, x]) => ({ type, id: null, x })),
    fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ bytes, binary: true as const })),
    // Well-formed frames aimed at another user's conversation and messages.
    plausibleFrame(targets.foreign, targets.tokens).filter((f) => f.type !== 'ping' && f.type !== 'resume' && f.type !== 'auth.refresh'),
  );
}

/** A text frame with invalid UTF-8 somewhere in it. */
export const invalidUtf8 = fc
  .tuple(
    fc.string({ maxLength: 40 }),
    fc.constantFrom([0xff], [0xfe], [0xc0, 0x80], [0x80], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82]),
    fc.string({ maxLength: 40 }),
  )
  .map(([a, bad, b]) => Buffer.concat([Buffer.from(a), Buffer.from(bad), Buffer.from(b)]));

/** What the HTTP fuzzer aims at: routes, the ids of fuzz-world.ts, and its users' tokens. */
export interface HttpTargets {
  routes: { method: string; path: string }[];
  own: string[];
  foreign: string[];
  /** alice's (the usual caller), carol's (a stranger to `own`), and an expired one of alice's. */
  alice: string;
  carol: string;
  expired: string;
  /** How many instances the requests are spread over. */
  instances: number;
}

const junk = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('..', '%', '%00', '%2F', '%ZZ', ' ', '😀', 'null', '-1', '0', '1e309', 'x'.repeat(2000), "'; drop table messages; --"),
);

export type HttpBody = { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'raw'; text: string; type: string };

export interface HttpRequestInput {
  route: { method: string; path: string };
  otherMethod: string | null;
  params: unknown[];
  rawParams: boolean;
  query: [string, string][];
  body: HttpBody;
  token: string;
  instance: number;
}

/** A request to a random /v1 route: random method, path params, query, body, content type and credential. */
export function httpRequest(t: HttpTargets): fc.Arbitrary<HttpRequestInput> {
  const param = () =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...t.own, ...t.foreign) },
      { weight: 1, arbitrary: fc.uuid() },
      { weight: 1, arbitrary: fc.constantFrom('alice', 'bob', 'carol', 'nobody', '👍') },
      { weight: 2, arbitrary: junk },
    );
  const queryValue = fc.oneof(fc.integer({ min: -5, max: 200 }).map(String), fc.constantFrom('', '1.5', '9007199254740993', 'true', '[]'), junk);
  const query = fc.array(fc.tuple(fc.constantFrom('limit', 'after', 'before', 'cursor', 'q', 'conversationId', 'token', 'x', ''), queryValue), { maxLength: 4 });
  const bodyValue = fc.oneof(
    fc.record(
      {
        title: fc.oneof(fc.string({ maxLength: 210 }), fc.integer()),
        memberIds: fc.array(fc.oneof(fc.constantFrom('bob', 'carol', 'nobody'), junk), { maxLength: 3 }),
        userId: fc.oneof(fc.constantFrom('bob', 'carol', 'alice', 'nobody'), junk),
        userIds: fc.array(fc.constantFrom('bob', 'carol', 'nobody', ''), { maxLength: 3 }),
        clientMsgId: fc.oneof(fc.uuid(), junk),
        body: fc.oneof(fc.string({ minLength: 1, maxLength: 50 }), fc.constantFrom('', ' ', 'a'.repeat(4001)), fc.integer()),
        role: fc.constantFrom('owner', 'admin', 'member', 'god', 1),
        muted: fc.oneof(fc.boolean(), fc.constant('yes')),
        upTo: fc.oneof(fc.integer({ min: -2, max: 10 }), fc.constant(2 ** 60)),
        state: fc.constantFrom('start', 'stop', 'maybe'),
        isPublic: fc.oneof(fc.boolean(), fc.constant(0)),
        replyToId: param(),
      },
      { requiredKeys: [] },
    ),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const body: fc.Arbitrary<HttpBody> = fc.oneof(
    { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 6, arbitrary: bodyValue.map((value) => ({ kind: 'json' as const, value })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.oneof(fc.string({ maxLength: 100 }), fc.constant('{"title": "x",'), fc.constant('x'.repeat(300 * 1024))),
          fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'image/png', 'application/octet-stream', 'application/json; charset=latin1'),
        )
        .map(([text, type]) => ({ kind: 'raw' as const, text, type })),
    },
  );
  const credential = fc.oneof(
    { weight: 8, arbitrary: fc.constant(t.alice) },
    { weight: 1, arbitrary: fc.constantFrom(t.carol, t.expired, 'garbage', `${t.alice.slice(0, -3)}AAA`, '') },
  );
  return fc.record({
    route: fc.constantFrom(...t.routes),
    otherMethod: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE') }),
    params: fc.array(param(), { minLength: 4, maxLength: 4 }),
    rawParams: fc.boolean(),
    query,
    body,
    token: credential,
    instance: fc.nat({ max: t.instances - 1 }),
  });
}
