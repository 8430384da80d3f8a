/**
 * pnpm bench:e2e-cost — what end-to-end encryption costs per message (docs/e2e.md, "What it
 * costs"), measured on the SDK's own seal/open (WebCrypto + @hpke/core, no network): for
 * conversations whose two members have 1, 2, 5 and 10 devices each, the sender's CPU to seal
 * one message, a recipient device's CPU to open it, and the body's size against the
 * plaintext's. Each step runs for `--seconds` (10) after a 2-s warm-up, steps alternate
 * seal/open over `--rounds` (3) rounds, and medians of the rounds go to stdout with the
 * per-round values. Single-threaded: the figures are one core's.
 *   pnpm bench:e2e-cost [--rounds 3] [--seconds 10] [--chars 200]
 */
import { parseArgs } from 'node:util';
import { loadOrCreateDevice, MemoryKeyStore, open, seal, type Device } from '@chat/client';
import type { E2EPlaintext } from '@chat/protocol';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    chars: { type: 'string', default: '200' },
  },
});
const rounds = Math.max(1, Math.min(9, Number(values.rounds)));
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const plaintext: E2EPlaintext = { body: 'x'.repeat(Number(values.chars)), quote: null, attachments: [] };
const conversationId = '8f1d6c5e-2b0a-4c1e-9d3f-5a6b7c8d9e0f';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const devices = (userId: string, n: number) => Promise.all(Array.from({ length: n }, () => loadOrCreateDevice(new MemoryKeyStore(), userId)));

/** Runs `op` back to back for `secs` and returns the mean wall time per call in ms (one thread: CPU time). */
async function step(secs: number, op: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + secs * 1000;
  let n = 0;
  const started = performance.now();
  while (performance.now() < end) {
    await op();
    n += 1;
  }
  return (performance.now() - started) / n;
}

console.log(`e2e cost: ${rounds} rounds, ${warmup}-s warm-up + ${seconds}-s steps, seal/open alternating, ${plaintext.body.length}-character body`);
console.log('devices per member | body chars (plaintext → sealed) | seal ms (median [rounds]) | open ms (median [rounds])');
for (const perMember of [1, 2, 5, 10]) {
  const alice = await devices('alice', perMember);
  const bob = await devices('bob', perMember);
  const recipients = await Promise.all([...alice, ...bob].map((d: Device) => d.bundle()));
  const senderBundles = await Promise.all(alice.map((d) => d.bundle()));
  let clientMsgId = 0;
  const sealOne = () => seal(alice[0]!, { conversationId, senderId: 'alice', clientMsgId: `m${++clientMsgId}`, replyToId: null, edit: 0 }, plaintext, recipients);
  const sample = await sealOne();
  const body = JSON.stringify(sample);
  const openOne = () => open(bob[0]!, body, { conversationId, senderId: 'alice', clientMsgId: sample.clientMsgId }, senderBundles);
  const check = await openOne();
  if (!check.ok) throw new Error(`open failed: ${check.reason}`);
  await step(warmup, sealOne);
  await step(warmup, openOne);
  const seals: number[] = [];
  const opens: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate which runs first, so drift in the machine's state lands on both.
    if (round % 2 === 0) {
      seals.push(await step(seconds, sealOne));
      opens.push(await step(seconds, openOne));
    } else {
      opens.push(await step(seconds, openOne));
      seals.push(await step(seconds, sealOne));
    }
  }
  const fmt = (xs: number[]) => `${median(xs).toFixed(2)} [${xs.map((x) => x.toFixed(2)).join(' / ')}]`;
  console.log(`${perMember} | ${plaintext.body.length} → ${body.length} | ${fmt(seals)} | ${fmt(opens)}`);
}
