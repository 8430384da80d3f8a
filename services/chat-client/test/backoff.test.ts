import { describe, expect, it } from 'vitest';
import { backoffCap, backoffDelay } from '../src/index.ts';

describe('backoff (full jitter)', () => {
  it('keeps every delay within [0, min(30000, 1000 * 2^attempt)]', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const cap = Math.min(30_000, 1000 * 2 ** attempt);
      expect(backoffCap(attempt)).toBe(cap);
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelay(attempt);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(cap);
      }
    }
  });

  it('grows with the attempt until the cap', () => {
    const caps = Array.from({ length: 8 }, (_, attempt) => backoffCap(attempt));
    expect(caps).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    // The same random draw gives a longer delay on a later attempt.
    const atTop = (attempt: number) => backoffDelay(attempt, { random: () => 0.999 });
    for (let attempt = 1; attempt < 8; attempt++) expect(atTop(attempt)).toBeGreaterThanOrEqual(atTop(attempt - 1));
    expect(atTop(4)).toBeGreaterThan(atTop(0));
    // On average too: the mean of many draws doubles from one attempt to the next (below the cap).
    const mean = (attempt: number) => Array.from({ length: 4000 }, () => backoffDelay(attempt)).reduce((a, b) => a + b, 0) / 4000;
    expect(mean(3)).toBeGreaterThan(mean(1) * 2);
  });

  it('is fully jittered: draws spread over the whole range', () => {
    expect(backoffDelay(3, { random: () => 0 })).toBe(0);
    const draws = Array.from({ length: 2000 }, () => backoffDelay(3));
    expect(Math.min(...draws)).toBeLessThan(800);
    expect(Math.max(...draws)).toBeGreaterThan(7200);
  });

  it('takes a custom base and cap', () => {
    expect(backoffCap(0, { baseMs: 50, maxMs: 400 })).toBe(50);
    expect(backoffCap(10, { baseMs: 50, maxMs: 400 })).toBe(400);
  });
});
