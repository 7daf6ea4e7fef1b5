import { performance } from "perf_hooks";
import { LinkedList, type Linked } from "../util/linked-list";

/** Something with a time limit: `deadline` is set by `Deadlines.add`, `expire()` is called when it passes. */
export interface Expiring<T> extends Linked<T> {
  /** When the time limit ends, in `performance.now()` ms. */
  deadline: number;
  expire(): void;
}

/**
 * The time limits of many attempts that all get the same length (a channel's time-out), kept by one timer
 * instead of a timer per attempt. Limits of one length end in the order they were set, so the timer only
 * ever waits for the oldest one still pending: when it fires, every limit that has passed expires (in the
 * order set) and the timer is set again for the next one. Each expires within the timer's resolution
 * (about 1 ms) of its length, as with a timer of its own. The timer runs only while a limit is pending, so
 * it never keeps a process alive that has nothing in flight.
 */
export class Deadlines<T extends Expiring<T>> {
  /** Pending limits in the order set (see LinkedList for why not a Set). */
  private readonly pending = new LinkedList<T>();
  private timer: NodeJS.Timeout | undefined;
  /** Inside `fire`: the timer is set when it is done. */
  private firing = false;

  /** `ms`: the length of every limit, in milliseconds (at least 1). */
  constructor(readonly ms: number) {}

  get size(): number {
    return this.pending.size;
  }

  /** Starts `item`'s limit now; an item already pending keeps its limit. */
  add(item: T): void {
    if (item.linked) return;
    item.deadline = performance.now() + this.ms;
    this.pending.push(item);
    if (this.timer === undefined && !this.firing) this.timer = setTimeout(this.fire, this.ms);
  }

  /** Ends `item`'s limit early (it finished in time); a limit no longer pending is ignored. */
  delete(item: T): void {
    if (!this.pending.remove(item) || this.pending.size > 0 || this.timer === undefined || this.firing) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    // An expire() may start a new limit (a retry started from a callback): the timer is set once the
    // loop is done, for the oldest limit then pending, never for the new one ahead of older ones.
    this.firing = true;
    try {
      for (let item = this.pending.first; item && item.deadline <= now; item = this.pending.first) {
        this.pending.remove(item);
        item.expire();
      }
    } finally {
      this.firing = false;
      if (this.timer !== undefined) clearTimeout(this.timer);
      const first = this.pending.first;
      // Node's timers run on the loop's cached clock, which may lag the real one: wait for the rest.
      this.timer = first ? setTimeout(this.fire, Math.max(1, Math.ceil(first.deadline - performance.now()))) : undefined;
    }
  };
}
