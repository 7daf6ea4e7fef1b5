/**
 * Bounds the requests a channel has in flight. Callers beyond the bound wait in a FIFO queue of bounded
 * length; past that, `acquire` answers false at once so that the caller fails the request instead of
 * dropping it silently.
 */
export class RequestLimiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly maxInFlight: number,
    readonly maxQueued: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves when a slot is free, rejects with the signal's reason if it aborts while waiting, and is
   * false when the queue is full.
   */
  acquire(signal: AbortSignal): Promise<void> | false {
    if (this.active < this.maxInFlight) {
      this.active++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.maxQueued) return false;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal.reason);
      };
      const entry = (): void => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** Gives up a slot, handing it straight to the next in line. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
