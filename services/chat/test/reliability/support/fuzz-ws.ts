/**
 * The WebSocket fuzzer behind fuzz-ws.test.ts (CI size) and fuzz-long.ts (100,000+ frames):
 * the same generators and checks, the number of runs a parameter.
 *  - hostile(): batches sent at once; every frame gets exactly one answer, a typed error
 *    (never INTERNAL); a ping after each batch is answered; the database is unchanged.
 *  - plausible(): frames of every type one at a time; one ack or typed error each; an
 *    error changes nothing.
 *  - encodings(): invalid UTF-8 closes that socket with 1007, an oversize frame with 1009.
 */
import fc from 'fast-check';
import type { Sql } from 'postgres';
import { expect } from 'vitest';
import { eventually } from '@chat/test-support/harness';
import { TestClient, type Frame } from '@chat/test-support/ws-client';
import { hostileFrame, invalidUtf8, plausibleFrame, type Wire } from './fuzz-arbitraries.ts';
import { snapshot, type FuzzWorld } from './fuzz-world.ts';

export interface RunOptions {
  runs: number;
  /** fast-check's seed, to replay a failure; random when absent. */
  seed?: number;
}

export class WsFuzzer {
  readonly counts = {
    frames: 0,
    hostileFrames: 0,
    plausibleFrames: 0,
    acks: 0,
    errors: 0,
    /** Answers with code INTERNAL: the server failed where it should have refused. */
    crashes: 0,
    closes1007: 0,
    closes1009: 0,
    byCode: {} as Record<string, number>,
  };
  private nextId = 0;

  /** `client`: alice's live socket; `ws`: the URL victims of the encoding checks connect to. */
  constructor(
    private readonly client: TestClient,
    private readonly sql: Sql,
    private readonly world: FuzzWorld,
    private readonly ws: string,
  ) {}

  async hostile({ runs, seed }: RunOptions): Promise<void> {
    const before = await snapshot(this.sql);
    await fc.assert(
      fc.asyncProperty(fc.array(hostileFrame(this.world.targets), { minLength: 20, maxLength: 60 }), async (inputs) => {
        const answers = await this.batch(inputs);
        this.counts.hostileFrames += inputs.length;
        for (const answer of answers) {
          expect(answer.type, JSON.stringify(answer)).toBe('error');
          expect(answer).toMatchObject({ code: expect.any(String), message: expect.any(String), retryable: expect.any(Boolean) });
          expect(answer.code).not.toBe('INTERNAL');
        }
        expect(await snapshot(this.sql)).toEqual(before);
      }),
      { numRuns: runs, endOnFailure: true, ...(seed === undefined ? {} : { seed }) },
    );
  }

  async plausible({ runs, seed }: RunOptions): Promise<void> {
    const ids = [...this.world.own, ...this.world.foreign];
    await fc.assert(
      fc.asyncProperty(plausibleFrame(ids, this.world.targets.tokens), async (frame) => {
        const before = await snapshot(this.sql);
        const answer = await this.one(frame);
        this.counts.plausibleFrames++;
        if (answer.type === 'error') {
          expect(answer.code).not.toBe('INTERNAL');
          expect(await snapshot(this.sql)).toEqual(before);
        }
      }),
      { numRuns: runs, endOnFailure: true, ...(seed === undefined ? {} : { seed }) },
    );
  }

  async encodings({ invalidUtf8: utf8Runs, oversize }: { invalidUtf8: number; oversize: number }): Promise<void> {
    const before = await snapshot(this.sql);
    const victim = async (send: (c: TestClient) => void, code: number) => {
      const c = await TestClient.connect(this.ws, { token: this.world.tokens.alice });
      try {
        this.counts.frames++;
        send(c);
        expect(await c.waitClosed()).toBe(code);
      } finally {
        await c.close();
      }
    };
    for (const bytes of fc.sample(invalidUtf8, utf8Runs)) {
      await victim((c) => c.sendRaw(bytes, false), 1007);
      this.counts.closes1007++;
    }
    for (const size of fc.sample(fc.integer({ min: 64 * 1024 + 1, max: 400_000 }), oversize)) {
      const frame = { type: 'message.send', id: 'big', conversationId: this.world.ours, clientMsgId: `big-${size}`, body: 'o'.repeat(size) };
      await victim((c) => c.sendRaw(JSON.stringify(frame)), 1009);
      this.counts.closes1009++;
    }
    expect(await this.client.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
    expect(await snapshot(this.sql)).toEqual(before);
    expect(this.client.closeCode).toBeNull();
  }

  /** The text (or bytes) to send, and the id the server must echo (null when it cannot know one). */
  private encode(input: Wire | Record<string, unknown>): { wire: Wire; echo: string | null } {
    if ('binary' in input && input.binary === true) return { wire: input as Wire, echo: null };
    let text: string;
    if ('text' in input && typeof input.text === 'string' && Object.keys(input).length === 1) text = input.text.replace('@@ID@@', `fz${++this.nextId}`);
    else {
      const frame = { ...(input as Record<string, unknown>) };
      if (frame.id === null) frame.id = `fz${++this.nextId}`;
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

  private send(wire: Wire): void {
    this.counts.frames++;
    if (wire.binary) this.client.sendRaw(Buffer.from(wire.bytes), true);
    else this.client.sendRaw(wire.text);
  }

  private tally(answers: Frame[]): void {
    for (const answer of answers) {
      if (answer.type === 'ack') this.counts.acks++;
      else {
        this.counts.errors++;
        this.counts.byCode[answer.code] = (this.counts.byCode[answer.code] ?? 0) + 1;
        if (answer.code === 'INTERNAL') this.counts.crashes++;
      }
    }
  }

  /** Every earlier request is answered here: forget its frames, so a long run's log stays short. */
  private forget(): void {
    this.client.frames.length = 0;
  }

  /** Sends a batch at once; checks one answer per frame, a live ping, and returns the answers. */
  private async batch(inputs: (Wire | Record<string, unknown>)[]): Promise<Frame[]> {
    this.forget();
    const expected = new Map<string | null, number>();
    for (const input of inputs) {
      const { wire, echo } = this.encode(input);
      expected.set(echo, (expected.get(echo) ?? 0) + 1);
      this.send(wire);
    }
    const answersOf = () => this.client.frames.filter((f) => (f.type === 'ack' || f.type === 'error') && !String(f.id).startsWith('__ping'));
    await eventually(() => answersOf().length >= inputs.length, `${inputs.length} answers`, 20_000);
    // No hang: the socket still answers a ping after the batch.
    expect(await this.client.request({ type: 'ping', id: `__ping${++this.nextId}` })).toEqual({ time: expect.any(String) });
    const answers = answersOf();
    const got = new Map<string | null, number>();
    for (const answer of answers) got.set(answer.id ?? null, (got.get(answer.id ?? null) ?? 0) + 1);
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(expected));
    expect(this.client.closeCode).toBeNull();
    this.tally(answers);
    return answers;
  }

  /** One frame and its single answer (no ping per frame: the batches cover liveness). */
  private async one(input: Record<string, unknown>): Promise<Frame> {
    this.forget();
    const { wire, echo } = this.encode(input);
    this.send(wire);
    const isAnswer = (f: Frame) => (f.type === 'ack' || f.type === 'error') && (f.id ?? null) === echo;
    const answer = await eventually(() => this.client.frames.find(isAnswer), `the answer to ${wire.binary ? 'binary' : wire.text.slice(0, 300)}`).catch((error) => {
      throw new Error(`${String(error)}; socket closed: ${this.client.closeCode}; frames since: ${JSON.stringify(this.client.frames).slice(0, 1500)}`);
    });
    this.tally([answer]);
    expect(this.client.closeCode).toBeNull();
    return answer;
  }
}
