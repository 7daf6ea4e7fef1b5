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
   * True when a slot is free at once; false when the queue is full; else a place in the queue: `ready`
   * resolves when a slot is handed over, and `cancel` leaves the queue.
   */
  acquire(): true | false | { ready: Promise<void>; cancel(): void } {
    if (this.active < this.maxInFlight) {
      this.active++;
      return true;
    }
    if (this.waiting.length >= this.maxQueued) return false;
    let handed = false;
    let entry: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => {
      entry = () => {
        handed = true;
        resolve();
      };
    });
    this.waiting.push(entry);
    return {
      ready,
      cancel: () => {
        // A slot handed over just before the cancel is given back, not lost.
        if (handed) return this.release();
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
      },
    };
  }

  /** Gives up a slot, handing it straight to the next in line. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
