import { LinkedList, type Linked } from "../util/linked-list";

/** A place in the limiter's queue. */
class Waiter implements Linked<Waiter> {
  prev: Waiter | undefined;
  next: Waiter | undefined;
  linked = false;
  /** A slot was handed to it. */
  handed = false;

  constructor(readonly hand: () => void) {}
}

/**
 * Bounds the requests a channel has in flight. Callers beyond the bound wait in a FIFO queue of bounded
 * length; past that, `acquire` answers false at once so that the caller fails the request instead of
 * dropping it silently. Leaving the queue is O(1) (a linked list): a stop that cancels every queued call
 * costs as many steps as there are calls, not their square.
 */
export class RequestLimiter {
  private active = 0;
  private readonly waiting = new LinkedList<Waiter>();

  constructor(
    readonly maxInFlight: number,
    readonly maxQueued: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.size;
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
    if (this.waiting.size >= this.maxQueued) return false;
    let resolve: () => void = () => undefined;
    const ready = new Promise<void>((r) => (resolve = r));
    const waiter = new Waiter(() => {
      waiter.handed = true;
      resolve();
    });
    this.waiting.push(waiter);
    return {
      ready,
      cancel: () => {
        // A slot handed over just before the cancel is given back, not lost.
        if (waiter.handed) return this.release();
        this.waiting.remove(waiter);
      },
    };
  }

  /** Gives up a slot, handing it straight to the next in line. */
  release(): void {
    const next = this.waiting.first;
    if (next) {
      this.waiting.remove(next);
      next.hand();
    } else this.active--;
  }
}
