/** One item's result in a batch: its value, or the error that item alone failed with. */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };
