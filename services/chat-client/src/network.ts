/** The browser's idea of connectivity: navigator.onLine and window online/offline events. */

interface EventSource {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

export class NetworkWatcher {
  private target: EventSource | null = null;

  constructor(
    private readonly enabled: boolean,
    private readonly onOnline: () => void,
    private readonly onOffline: () => void,
  ) {}

  /** True only when the browser says so; unknown counts as online. */
  get offline(): boolean {
    if (!this.enabled) return false;
    return (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false;
  }

  start(): void {
    if (!this.enabled || this.target) return;
    const w = (globalThis as { window?: Partial<EventSource> }).window;
    if (typeof w?.addEventListener !== 'function' || typeof w.removeEventListener !== 'function') return;
    this.target = w as EventSource;
    this.target.addEventListener('online', this.onOnline);
    this.target.addEventListener('offline', this.onOffline);
  }

  stop(): void {
    this.target?.removeEventListener('online', this.onOnline);
    this.target?.removeEventListener('offline', this.onOffline);
    this.target = null;
  }
}

/** Browsers (anything with a window) listen by default. */
export function defaultOnlineEvents(): boolean {
  return typeof (globalThis as { window?: unknown }).window !== 'undefined';
}
