/**
 * GroupCommit: concurrent submissions share flushes, flushes start in submission order
 * with at most maxInFlight at once, and every caller settles with its own item's outcome.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroupCommit, type Outcome } from '../../src/domain/group-commit.ts';

describe('GroupCommit', () => {
  it('keeps submission order across batches, bounds batches in flight, and answers each caller with its own outcome', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 8 }), async (gaps, maxInFlight, maxBatch, pipelineAt) => {
        const flushed: number[][] = [];
        let running = 0;
        let peak = 0;
        const commit = new GroupCommit<number, number>(
          async (items) => {
            flushed.push(items);
            peak = Math.max(peak, ++running);
            await new Promise((resolve) => setTimeout(resolve, 1));
            running--;
            return items.map((n): Outcome<number> => (n % 7 === 3 ? { ok: false, error: new Error(`bad ${n}`) } : { ok: true, value: n * 2 }));
          },
          { maxBatch, maxInFlight, pipelineAt },
        );
        const results: Promise<string>[] = [];
        for (const [n, gap] of gaps.entries()) {
          results.push(commit.submit(n).then((v) => `ok ${v}`, (e: Error) => e.message));
          for (let i = 0; i < gap; i++) await Promise.resolve();
          if (gap === 3) await new Promise((resolve) => setImmediate(resolve));
        }
        expect(await Promise.all(results)).toEqual(gaps.map((_, n) => (n % 7 === 3 ? `bad ${n}` : `ok ${n * 2}`)));
        expect(flushed.flat()).toEqual(gaps.map((_, n) => n));
        expect(Math.max(...flushed.map((b) => b.length))).toBeLessThanOrEqual(maxBatch);
        expect(peak).toBeLessThanOrEqual(maxInFlight);
        await commit.drain();
        expect(commit.backlog).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  it('opens a second flush while one runs only once pipelineAt items wait; smaller queues join the next batch', async () => {
    const flushed: number[][] = [];
    const releases: (() => void)[] = [];
    const commit = new GroupCommit<number, number>(
      async (items) => {
        flushed.push(items);
        await new Promise<void>((resolve) => releases.push(resolve));
        return items.map((n) => ({ ok: true, value: n }));
      },
      { maxBatch: 100, maxInFlight: 2, pipelineAt: 4 },
    );
    const settled: Promise<number>[] = [commit.submit(0)];
    await new Promise((resolve) => setImmediate(resolve));
    expect(flushed).toEqual([[0]]);
    // Three wait behind the running flush: below pipelineAt, no second flush.
    settled.push(commit.submit(1), commit.submit(2), commit.submit(3));
    await new Promise((resolve) => setImmediate(resolve));
    expect(flushed).toEqual([[0]]);
    // The fourth makes pipelineAt: a second flush takes all four.
    settled.push(commit.submit(4));
    await new Promise((resolve) => setImmediate(resolve));
    expect(flushed).toEqual([[0], [1, 2, 3, 4]]);
    // Both slots busy: the next items wait, whatever their number.
    for (let n = 5; n < 10; n++) settled.push(commit.submit(n));
    await new Promise((resolve) => setImmediate(resolve));
    expect(flushed.length).toBe(2);
    releases.shift()!();
    while (flushed.length < 3) await new Promise((resolve) => setImmediate(resolve));
    expect(flushed[2]).toEqual([5, 6, 7, 8, 9]);
    releases.splice(0).forEach((release) => release());
    expect(await Promise.all(settled)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('fails every item of a flush that throws, and goes on with the next', async () => {
    let calls = 0;
    const commit = new GroupCommit<number, number>(async (items) => {
      if (calls++ === 0) throw new Error('database down');
      return items.map((n) => ({ ok: true, value: n }));
    }, { maxBatch: 10 });
    const first = [commit.submit(1), commit.submit(2)].map((p) => p.catch((e: Error) => e.message));
    expect(await Promise.all(first)).toEqual(['database down', 'database down']);
    expect(await commit.submit(3)).toBe(3);
  });

  it('drain waits for what was submitted', async () => {
    const done: number[] = [];
    const commit = new GroupCommit<number, void>(async (items) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      done.push(...items);
      return items.map(() => ({ ok: true, value: undefined }));
    }, { maxBatch: 2 });
    for (let i = 0; i < 5; i++) void commit.submit(i);
    await commit.drain();
    expect(done).toEqual([0, 1, 2, 3, 4]);
  });
});
