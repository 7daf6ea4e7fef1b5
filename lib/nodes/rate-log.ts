/**
 * Logs a repeated event as a rate: the first occurrence at once, then one line per window with the count,
 * so that a flood of bad requests cannot flood the log.
 */
export class RateLog {
  private count = 0;
  private windowStart = 0;

  constructor(
    private readonly log: (line: string) => void,
    private readonly first: string,
    private readonly repeated: (count: number, seconds: number) => string,
    private readonly windowMs = 60_000,
  ) {}

  hit(now = Date.now()): void {
    if (this.windowStart === 0) {
      this.windowStart = now;
      this.log(this.first);
      return;
    }
    this.count++;
    if (now - this.windowStart >= this.windowMs) this.flush(now);
  }

  /** Writes the pending count, if any (on close, or when a window has passed). */
  flush(now = Date.now()): void {
    if (this.count > 0) this.log(this.repeated(this.count, Math.round((now - this.windowStart) / 1000)));
    this.count = 0;
    this.windowStart = now;
  }
}
