/** Medians over alternating rounds, and how bench:compare prints them: `1,800 [1,950 / 1,800 / none]`. */

/** Median of the finite values; NaN when there are none. Even counts average the middle two. */
export function median(values: (number | null | undefined)[]): number {
  const sorted = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Median of per-round values where a round may have no value at all (`null`: e.g. no step
 * passed). A missing value ranks below every number, as "none passed" is below any rate: with
 * most rounds missing the median itself is null.
 */
export function medianWithNone(values: (number | null)[]): number | null {
  const ranked = [...values].sort((a, b) => (a === null ? -Infinity : a) - (b === null ? -Infinity : b));
  if (ranked.length === 0) return null;
  const mid = Math.floor(ranked.length / 2);
  if (ranked.length % 2) return ranked[mid]!;
  const [lo, hi] = [ranked[mid - 1]!, ranked[mid]!];
  return lo === null || hi === null ? null : (lo + hi) / 2;
}

/** 3 significant-ish digits: 1,800 / 78 / 7.5 / 0.42 (thousands separated). */
export function formatNumber(value: number | null | undefined, none = 'none'): string {
  if (value === null || value === undefined || Number.isNaN(value)) return none;
  if (!Number.isFinite(value)) return '∞';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  const rounded = Number(value.toFixed(digits));
  return rounded.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** `median [r1 / r2 / r3]`, per-round values in round order. */
export function medianAndRounds(values: (number | null)[], options: { none?: string; unit?: string } = {}): string {
  const none = options.none ?? 'none';
  const unit = options.unit ?? '';
  const m = values.some((v) => v === null) ? medianWithNone(values) : median(values);
  return `${formatNumber(m, none)}${unit} [${values.map((v) => formatNumber(v, none)).join(' / ')}]`;
}
