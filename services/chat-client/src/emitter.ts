/** A tiny typed event emitter: `on` returns its own unsubscribe function. */

export type Listener<T> = (value: T) => void;
/** The emitting half alone, for parts that only report (any emitter with a superset of events fits). */
export type Emit<Events> = <K extends keyof Events>(event: K, value: Events[K]) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /**
   * Subscribes to an event; returns the function that unsubscribes.
   *
   * @example const off = emitter.on('state', (s) => console.log(s.status)); off();
   */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => void set.delete(listener as Listener<never>);
  }

  emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(value);
      } catch (error) {
        // One broken listener must not stop the others or the client's own bookkeeping.
        console.error(`[chat-client] a '${String(event)}' listener threw`, error);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
