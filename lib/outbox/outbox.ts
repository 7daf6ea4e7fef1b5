import { OutboxStore, type OutboxEntry, type StoredMessage } from "./store";
import { verdictOf } from "./reach";

export type { OutboxEntry, StoredMessage } from "./store";

/** Genesys's answer to a message the outbox delivered. */
export interface DeliveredAnswer {
  statusCode: number;
  traceId: string;
  payload: unknown;
}

/** What the outbox asks of its owner (in Node-RED: the channel and its send nodes). */
export interface OutboxHandlers {
  /** Sends one stored message: exactly `entry.body`, with `entry.traceId`. Rejects with the client's error. */
  send(entry: OutboxEntry): Promise<DeliveredAnswer>;
  /** Emits a delivered message's answer; false when nobody can emit it now (the outbox keeps it and waits). */
  deliver(entry: OutboxEntry, answer: DeliveredAnswer): boolean;
  /** Whether messages may be sent now: someone is there to emit the answers. */
  canDrain(): boolean;
  /** Genesys refused the message for good (a 4xx): it leaves the outbox, to Catch. */
  refuse(entry: OutboxEntry, err: Error): void;
  /** The message waited longer than `maxAgeMs`: it leaves the outbox, to Catch, with its age in ms. */
  expire(entry: OutboxEntry, ageMs: number): void;
  /**
   * The message is sent again after an attempt whose outcome was unknown: log it. `restarted`: that attempt
   * was made before a restart (a crash), so its answer may also have been emitted already.
   */
  resend(entry: OutboxEntry, restarted: boolean): void;
  /** A stored answer is emitted again after a restart: the record of its emission was lost (a crash). */
  reemit?(entry: OutboxEntry): void;
  /** The number of waiting messages or the oldest changed (for a status). */
  changed(): void;
}

export interface OutboxOptions {
  /** The outbox file (LMDB data file; a `-lock` file sits next to it). */
  file: string;
  /** Most messages held; one more is refused with OutboxFullError. */
  limit: number;
  /** How long a message may wait, in ms; an older one is expired. */
  maxAgeMs: number;
  /** First wait between probes while Genesys cannot be reached, in ms (default 500); doubles per failure. */
  backoffBaseMs?: number;
  /** Longest wait between probes, in ms (default 30000); a longer `Retry-After` is still honoured. */
  backoffMaxMs?: number;
  handlers: OutboxHandlers;
  now?: () => number;
}

/** The outbox holds `limit` messages already. */
export class OutboxFullError extends Error {
  constructor(readonly limit: number) {
    super(`outbox full (${limit} messages)`);
    this.name = "OutboxFullError";
  }
}

/** A message's place in the queue, taken when it arrives, before its direct attempt (see `Outbox.reserve`). */
export interface Reservation {
  readonly key: number;
  /** Keeps the message at its place: as `Outbox.add`. Decided (the limit too) in the order places were taken. */
  add(message: Omit<StoredMessage, "at"> & { at?: number }, failed?: unknown): Promise<void>;
  /** The message needs no place (it was delivered directly, or went to Catch). */
  release(): void;
}

/** What a flow can read about the outbox (`msg.outbox = "status"`). */
export interface OutboxInfo {
  /** Messages waiting (including those being written). */
  waiting: number;
  /** When the oldest waiting message was taken, ms since the epoch; null when none waits. */
  oldest: number | null;
  limit: number;
  /** Maximum age, seconds. */
  maxAge: number;
  /** Whether the last attempt failed and the outbox waits to probe again. */
  retrying: boolean;
  /** When the next attempt is due, ms since the epoch, while retrying. */
  nextAttempt: number | null;
}

/** Messages read ahead from the file at once; the rest stay on disk. */
const WINDOW = 64;

/**
 * A durable, ordered, bounded outbox for one channel, and its drain loop. `add()` resolves only once the
 * message is flushed to disk (writes of one event turn share one commit and one flush). The drain loop
 * sends the oldest message, one at a time so that they arrive in order; on a failure that may clear up it
 * waits (exponential backoff with jitter, capped; a server's `Retry-After` honoured) and tries the same
 * message again; on a refusal for good the message leaves to `refuse`. Only the count, the oldest
 * timestamp and a small read-ahead window are held in memory.
 */
/**
 * A place taken by `Outbox.reserve`: one small object per message sent directly, no closures and no
 * promise unless the message is kept.
 */
class Place implements Reservation {
  private used = false;

  constructor(
    private readonly outbox: Outbox,
    readonly key: number,
  ) {}

  add(message: Omit<StoredMessage, "at"> & { at?: number }, failed?: unknown): Promise<void> {
    if (this.used) return Promise.reject(new Error("reservation used"));
    this.used = true;
    return this.outbox.fillPlace(this.key, message, failed);
  }

  release(): void {
    if (this.used) return;
    this.used = true;
    this.outbox.releasePlace(this.key);
  }
}

export class Outbox {
  private readonly store: OutboxStore;
  private readonly handlers: OutboxHandlers;
  private readonly now: () => number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  readonly limit: number;
  readonly maxAgeMs: number;
  /** Waiting messages, counting those still being written. */
  private waiting: number;
  /** Taken time of the oldest waiting message. */
  private oldestAt: number | undefined;
  private window: OutboxEntry[] = [];
  /** The next key to read from the file. */
  private cursor = 0;
  /** Keys below this were removed by a clear. */
  private clearedBelow = 0;
  private failures = 0;
  private retryAt: number | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void>;
  private writes = new Set<Promise<unknown>>();
  /** Places taken and not yet filled or given up: the drain reads no further than the lowest. */
  private readonly reserved = new Set<number>();
  /** No key below this is reserved. */
  private lowReserved: number;
  /** `add`s waiting for every place taken before theirs to be filled or given up, by key. */
  private readonly waitingAdds = new Map<number, () => void>();
  /** Keys below this were stored by an earlier run (before a restart). */
  private readonly startKey: number;
  /** Entries whose disk copy says "attempt under way" while the one in memory does not (this run's attempts). */
  private readonly marked = new WeakSet<OutboxEntry>();
  /** The entry marked during the send before it (see `attempt`), until it is attempted itself. */
  private markedAhead: OutboxEntry | undefined;
  /** "Attempt under way" writes not yet awaited: the next entry's is made while the one before is sent. */
  private readonly marking = new WeakMap<OutboxEntry, Promise<void>>();
  /** Entries this run has attempted. */
  private readonly tried = new WeakSet<OutboxEntry>();

  constructor(options: OutboxOptions) {
    this.store = OutboxStore.open(options.file);
    this.handlers = options.handlers;
    this.now = options.now ?? Date.now;
    this.limit = options.limit;
    this.maxAgeMs = options.maxAgeMs;
    this.baseMs = options.backoffBaseMs ?? 500;
    this.maxMs = options.backoffMaxMs ?? 30_000;
    this.waiting = this.store.count();
    this.oldestAt = this.store.first()?.at;
    this.startKey = this.store.upcomingKey;
    this.lowReserved = this.startKey;
    this.loop = this.run();
  }

  get size(): number {
    return this.waiting;
  }

  /** Taken time of the oldest waiting message (ms since the epoch), if one waits. */
  get oldest(): number | undefined {
    return this.waiting > 0 ? this.oldestAt : undefined;
  }

  info(): OutboxInfo {
    const retrying = this.retryAt !== undefined && this.waiting > 0;
    return { waiting: this.waiting, oldest: this.oldest ?? null, limit: this.limit, maxAge: Math.round(this.maxAgeMs / 1000), retrying, nextAttempt: retrying ? Math.max(this.retryAt as number, this.now()) : null };
  }

  /**
   * Takes a message. Resolves once it is flushed to disk; rejects with OutboxFullError at once when the
   * outbox holds `limit` messages, or with the file's error. `failed`: the error of the send that just
   * failed for it, so that the next attempt waits as after a failed probe.
   */
  add(message: Omit<StoredMessage, "at"> & { at?: number }, failed?: unknown): Promise<void> {
    let reservation: Reservation;
    try {
      reservation = this.reserve();
    } catch (err) {
      return Promise.reject(err);
    }
    return reservation.add(message, failed);
  }

  /**
   * Takes the next place in the queue for a message that has just arrived, before its direct attempt: if
   * it is kept later, it still goes before every message that arrived after it, and whether it fits the
   * limit is decided in the order messages arrived. The drain sends nothing behind a place not yet filled
   * or given up. Every reservation must end with `add` or `release`.
   */
  reserve(): Reservation {
    if (this.stopped) throw new Error("the outbox is closed");
    const key = this.store.reserveKey();
    this.reserved.add(key);
    return new Place(this, key);
  }

  /** A place's `add` (see Reservation): filled in the order places were taken, after every earlier one is filled or given up. */
  async fillPlace(key: number, message: Omit<StoredMessage, "at"> & { at?: number }, failed: unknown): Promise<void> {
    if (this.lowestReserved() !== key) await new Promise<void>((resolve) => this.waitingAdds.set(key, resolve));
    return this.put(key, message, failed, () => this.releasePlace(key));
  }

  /** A place is filled or given up: the next place in line may be filled now. */
  releasePlace(key: number): void {
    this.reserved.delete(key);
    const next = this.lowestReserved();
    const go = next === undefined ? undefined : this.waitingAdds.get(next);
    if (go) {
      this.waitingAdds.delete(next as number);
      go();
    }
    this.kick();
  }

  private async put(key: number, message: Omit<StoredMessage, "at"> & { at?: number }, failed: unknown, filled: () => void): Promise<void> {
    if (this.stopped) {
      filled();
      throw new Error("the outbox is closed");
    }
    if (this.waiting >= this.limit) {
      filled();
      throw new OutboxFullError(this.limit);
    }
    const at = message.at ?? this.now();
    if (this.waiting === 0 || this.oldestAt === undefined) this.oldestAt = at;
    this.waiting++;
    if (failed !== undefined) {
      // Many sends that fail together count as one failed probe, not as many; a server's wait always counts.
      if (this.retryAt === undefined || this.retryAt <= this.now()) this.backoff(failed);
      else this.honourRetryAfter(failed);
    }
    let written: Promise<unknown>;
    try {
      written = this.store.put(key, { ...message, at });
    } catch (err) {
      this.waiting--;
      filled();
      throw err;
    }
    filled();
    this.writes.add(written);
    try {
      await written;
      await this.store.durable();
    } catch (err) {
      this.waiting--;
      throw err;
    } finally {
      this.writes.delete(written);
    }
    this.handlers.changed();
    this.kick();
  }

  /** The lowest key reserved and not yet filled or given up, if any. */
  private lowestReserved(): number | undefined {
    if (this.reserved.size === 0) return undefined;
    while (!this.reserved.has(this.lowReserved)) this.lowReserved++;
    return this.lowReserved;
  }

  /** Wakes the drain loop: a message came, a node registered, a deploy finished. */
  kick(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Empties the outbox; resolves with how many messages were removed. */
  async clear(): Promise<number> {
    await Promise.allSettled([...this.writes]);
    const removed = await this.store.clear();
    this.window = [];
    // Places still reserved were not cleared: a message may yet fill them.
    this.cursor = Math.min(this.store.upcomingKey, this.lowestReserved() ?? Infinity);
    this.clearedBelow = this.cursor;
    this.waiting = 0;
    this.oldestAt = undefined;
    this.retryAt = undefined;
    this.failures = 0;
    this.handlers.changed();
    return removed;
  }

  /**
   * Stops the drain loop (the send in progress, if any, ends as the client lets it: the caller closes the
   * client) and closes the file once every write is flushed. Nothing is lost: what was not delivered stays.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.loop;
    // The next message's "attempt under way", written while the one before was sent, is taken back: it
    // was not sent, and the next run must not log it as a resend.
    const ahead = this.markedAhead;
    this.markedAhead = undefined;
    if (ahead && !this.tried.has(ahead)) await this.unmark(ahead);
    await Promise.allSettled([...this.writes]);
    await this.store.close();
  }

  /** Counts a failed attempt: the next one waits longer, or as long as the server asked. */
  private backoff(err: unknown): void {
    const verdict = verdictOf(err);
    const step = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    let wait = Math.round(step / 2 + Math.random() * (step / 2));
    if (verdict.keep && verdict.retryAfterMs !== undefined) wait = Math.max(wait, verdict.retryAfterMs);
    this.retryAt = Math.max(this.retryAt ?? 0, this.now() + wait);
  }

  /** No probe before the wait a server asked for (`Retry-After` of a 429 or 503), whatever its length. */
  private honourRetryAfter(err: unknown): void {
    const verdict = verdictOf(err);
    if (verdict.keep && verdict.retryAfterMs !== undefined) this.retryAt = Math.max(this.retryAt ?? 0, this.now() + verdict.retryAfterMs);
  }

  /** Waits for a kick, or at most `ms`. */
  private sleep(ms: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.kick(), Math.max(0, ms));
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** The oldest message not yet handled, from the read-ahead window. */
  private head(): OutboxEntry | undefined {
    if (this.window.length === 0) {
      // Never past a place a message may still fill: it goes before what came after it.
      this.window = this.store.read(this.cursor, WINDOW, this.lowestReserved());
      if (this.window.length > 0) this.cursor = this.window[this.window.length - 1].key + 1;
    }
    return this.window[0];
  }

  /** The head leaves the outbox (its removal is committed with the next batch). */
  private done(entry: OutboxEntry): void {
    if (entry.key < this.clearedBelow) return;
    // The window may have been emptied meanwhile (a clear): only the entry itself leaves.
    if (this.window[0] === entry) this.window.shift();
    this.waiting = Math.max(0, this.waiting - 1);
    const written = this.store.remove(entry.key);
    this.writes.add(written);
    void written.finally(() => this.writes.delete(written));
    this.oldestAt = this.window[0]?.at ?? (this.waiting > 0 ? this.head()?.at : undefined);
    this.handlers.changed();
  }

  private async run(): Promise<void> {
    // Started from the constructor: the first turn waits, so that the owner is ready.
    await Promise.resolve();
    while (!this.stopped) {
      const entry = this.waiting > 0 && this.handlers.canDrain() ? this.head() : undefined;
      if (!entry) {
        await this.sleep(undefined);
        continue;
      }
      // A delivered message whose answer waits to be emitted is never expired: Genesys has it.
      const age = this.now() - entry.at;
      if (age > this.maxAgeMs && !entry.answer) {
        this.done(entry);
        this.handlers.expire(entry, age);
        continue;
      }
      if (entry.answer) {
        if (!this.handlers.canDrain()) {
          await this.sleep(undefined);
          continue;
        }
        if (entry.emitting && entry.key < this.startKey) this.handlers.reemit?.(entry);
        else if (!entry.emitting) {
          // Recorded first (committed, no flush needed), so that a crash right after is named on restart.
          entry.emitting = true;
          await this.track(this.rewrite(entry));
        }
        if (this.handlers.deliver(entry, entry.answer)) this.done(entry);
        else await this.sleep(undefined);
        continue;
      }
      if (this.retryAt !== undefined && this.retryAt > this.now()) {
        // Wake for the probe, or when the head expires, whichever comes first.
        await this.sleep(Math.min(this.retryAt - this.now(), entry.at + this.maxAgeMs - this.now() + 1));
        continue;
      }
      await this.attempt(entry);
    }
  }

  private async attempt(entry: OutboxEntry): Promise<void> {
    if (this.markedAhead === entry) this.markedAhead = undefined;
    const restarted = !this.tried.has(entry) && entry.key < this.startKey;
    this.tried.add(entry);
    if (entry.unknown) this.handlers.resend(entry, restarted);
    else {
      // "Attempt under way" on disk before the request goes out: after a crash the next attempt is a
      // logged resend. Committed (which survives a killed process), not flushed.
      this.mark(entry);
      const marking = this.marking.get(entry);
      this.marking.delete(entry);
      if (marking) await marking;
    }
    // While messages go through, the next one's mark is committed during this send (one commit per
    // message, overlapping the request). Should this send fail, that mark is taken back.
    const next = this.failures === 0 ? this.window[1] : undefined;
    if (next && !next.unknown && !next.answer) {
      this.mark(next);
      this.markedAhead = next;
    }
    let answer: DeliveredAnswer;
    try {
      answer = await this.handlers.send(entry);
    } catch (err) {
      const verdict = verdictOf(err);
      if (!verdict.keep) {
        this.done(entry);
        this.retryAt = undefined;
        this.failures = 0;
        this.handlers.refuse(entry, err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (verdict.unknown) entry.unknown = true;
      else if (!entry.unknown) await this.unmark(entry);
      if (next && !next.unknown) await this.unmark(next);
      this.backoff(err);
      this.handlers.changed();
      return;
    }
    this.retryAt = undefined;
    this.failures = 0;
    if (this.handlers.deliver(entry, answer)) {
      this.done(entry);
      return;
    }
    // Delivered while no send node runs (a deploy): keep the answer, so that it is emitted, not sent again.
    entry.answer = answer;
    await this.track(this.rewrite(entry));
  }

  /** Writes "attempt under way" for an entry, once. */
  private mark(entry: OutboxEntry): void {
    if (this.marked.has(entry)) return;
    this.marked.add(entry);
    this.marking.set(entry, this.track(this.rewrite({ ...entry, unknown: true })));
  }

  /** Takes a mark back: the entry did not arrive (or was not sent), so a restart need not call it a resend. */
  private async unmark(entry: OutboxEntry): Promise<void> {
    if (!this.marked.has(entry)) return;
    this.marked.delete(entry);
    const marking = this.marking.get(entry);
    this.marking.delete(entry);
    if (marking) await marking;
    await this.track(this.rewrite(entry));
  }

  /**
   * Writes an entry again (a mark, a mark taken back, a kept answer), unless a clear removed it meanwhile:
   * a write after the clear would bring it back.
   */
  private rewrite(entry: OutboxEntry): Promise<unknown> {
    if (entry.key < this.clearedBelow) return Promise.resolve();
    return this.store.update(entry);
  }

  private async track(write: Promise<unknown>): Promise<void> {
    this.writes.add(write);
    try {
      await write;
    } catch {
      // The entry stays as it was on disk: at worst a resend is not named as one.
    } finally {
      this.writes.delete(write);
    }
  }
}
