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
  /** The message is sent again after an attempt whose outcome was unknown: log it. */
  resend(entry: OutboxEntry): void;
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
    return { waiting: this.waiting, oldest: this.oldest ?? null, limit: this.limit, maxAge: Math.round(this.maxAgeMs / 1000), retrying, nextAttempt: retrying ? (this.retryAt as number) : null };
  }

  /**
   * Takes a message. Resolves once it is flushed to disk; rejects with OutboxFullError at once when the
   * outbox holds `limit` messages, or with the file's error. `failed`: the error of the send that just
   * failed for it, so that the next attempt waits as after a failed probe.
   */
  async add(message: Omit<StoredMessage, "at"> & { at?: number }, failed?: unknown): Promise<void> {
    if (this.stopped) throw new Error("the outbox is closed");
    if (this.waiting >= this.limit) throw new OutboxFullError(this.limit);
    const at = message.at ?? this.now();
    if (this.waiting === 0 || this.oldestAt === undefined) this.oldestAt = at;
    this.waiting++;
    // Many sends that fail together count as one failed probe, not as many.
    if (failed !== undefined && (this.retryAt === undefined || this.retryAt <= this.now())) this.backoff(failed);
    let written: Promise<unknown>;
    try {
      written = this.store.append({ ...message, at }).written;
    } catch (err) {
      this.waiting--;
      throw err;
    }
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
    this.cursor = this.store.upcomingKey;
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
      this.window = this.store.read(this.cursor, WINDOW);
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
      const age = this.now() - entry.at;
      if (age > this.maxAgeMs) {
        this.done(entry);
        this.handlers.expire(entry, age);
        continue;
      }
      if (entry.answer) {
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
    if (entry.unknown) this.handlers.resend(entry);
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
      if (verdict.unknown && !entry.unknown) {
        entry.unknown = true;
        await this.track(this.store.update(entry));
      }
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
    await this.track(this.store.update(entry));
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
