/** One status line a second on stderr (rewritten in place on a terminal). */
export class Progress {
  private timer: NodeJS.Timeout | null = null;
  private readonly startedAt = performance.now();

  constructor(
    private readonly label: string,
    private readonly line: () => string,
    private readonly quiet: boolean,
    private readonly onTick?: () => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.onTick?.();
      if (this.quiet) return;
      const text = `[${this.label} ${((performance.now() - this.startedAt) / 1000).toFixed(0)}s] ${this.line()}`;
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${text}`);
      else process.stderr.write(`${text}\n`);
    }, 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.quiet && process.stderr.isTTY) process.stderr.write('\n');
  }
}

export function log(quiet: boolean, message: string): void {
  if (!quiet) process.stderr.write(`${message}\n`);
}
