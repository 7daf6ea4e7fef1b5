/**
 * Where a webhook remembers deliveries: who is working on one (a claim) and what it was answered (the
 * third party's messageId). Claims are what keep one message from entering the flow twice at once;
 * answers are what a redelivery gets without entering the flow at all.
 *
 * Within one process the deliveries coordinator claims each key atomically itself, before it asks the
 * store; a store only has to be atomic across processes when it is shared (Redis).
 */
import { OrderedMap } from "../util/ordered-map";

export type Lookup = { state: "free" } | { state: "busy" } | { state: "answered"; messageId: string };
export type ClaimOutcome = { state: "claimed" } | { state: "busy" } | { state: "answered"; messageId: string };

export interface DedupeStore {
  /** Claims a delivery for `ttlMs`, unless it is already claimed or answered: in one step. */
  claim(key: string, owner: string, ttlMs: number): Promise<ClaimOutcome>;
  /** What is known of a delivery, without claiming it. */
  lookup(key: string): Promise<Lookup>;
  /** Records the answer; it replaces the claim and is kept for the store's answer lifetime. */
  answer(key: string, messageId: string): Promise<void>;
  /** Gives a claim back (the flow asked for a redelivery, or never answered), if `owner` still holds it. */
  release(key: string, owner: string): Promise<void>;
  /** Writes what is pending and lets go of connections. */
  close(): Promise<void>;
}

/** How long an answer is remembered at most, whatever the count allows: a day. */
export const ANSWER_TTL_MS = 24 * 60 * 60 * 1000;

interface StoredAnswer {
  id: string;
  at: number;
}

/** An asynchronous key-value store, such as a Node-RED node context (in any context store). */
export interface KeyValue {
  get(key: string): Promise<unknown>;
  /** Sets several keys in one write; `undefined` deletes a key. */
  set(keys: string[], values: unknown[]): Promise<void>;
  keys(): Promise<string[]>;
}

/** The key-value key of a delivery: a fixed prefix and a digest, so any messageId makes a safe key. */
export type KeyOf = (deliveryKey: string) => string;

/**
 * Answers kept in a key-value store, one entry per delivery, bounded by count and by age. Claims are not
 * kept there: the coordinator holds them in the process, which is the only place they could be atomic
 * (the store may be a file that Node-RED reads and rewrites whole on every change).
 *
 * Writes are queued and sent one batch at a time, so that two of ours never interleave in a store that
 * reads, changes and writes back; reads see the queue first.
 */
export class KeyValueDedupeStore implements DedupeStore {
  /** Keys held in the store, oldest first; loaded once from the store's own key list. */
  private index: OrderedMap<string, true> | undefined;
  private loading: Promise<OrderedMap<string, true>> | undefined;
  private readonly pending = new Map<string, StoredAnswer | undefined>();
  private writing: Promise<void> | undefined;

  constructor(
    private readonly kv: KeyValue,
    private readonly keyOf: KeyOf,
    private readonly isOurs: (storeKey: string) => boolean,
    private readonly max: number,
    private readonly ttlMs = ANSWER_TTL_MS,
  ) {}

  async claim(key: string): Promise<ClaimOutcome> {
    const found = await this.lookup(key);
    return found.state === "answered" ? found : { state: "claimed" };
  }

  async lookup(key: string): Promise<Lookup> {
    const storeKey = this.keyOf(key);
    const value = this.pending.has(storeKey) ? this.pending.get(storeKey) : await this.kv.get(storeKey);
    const answer = value as Partial<StoredAnswer> | undefined;
    if (!answer || typeof answer.id !== "string" || typeof answer.at !== "number") return { state: "free" };
    if (Date.now() - answer.at > this.ttlMs) {
      void this.write(storeKey, undefined).catch(() => undefined);
      return { state: "free" };
    }
    return { state: "answered", messageId: answer.id };
  }

  answer(key: string, messageId: string): Promise<void> {
    const storeKey = this.keyOf(key);
    const writing = this.write(storeKey, { id: messageId, at: Date.now() });
    if (this.index) this.track(this.index, storeKey);
    else void this.loadIndex().then((index) => this.track(index, storeKey));
    return writing;
  }

  async release(): Promise<void> {
    // Nothing is kept for a claim.
  }

  async close(): Promise<void> {
    await this.loading;
    while (this.writing) await this.writing.catch(() => undefined);
  }

  /** Notes a key as the newest; past the bound, the oldest entries are deleted in the same batch. */
  private track(index: OrderedMap<string, true>, storeKey: string): void {
    index.set(storeKey, true);
    while (index.size > this.max) {
      const [old] = index.shift() as [string, true];
      void this.write(old, undefined).catch(() => undefined);
    }
  }

  private loadIndex(): Promise<OrderedMap<string, true>> {
    this.loading ??= this.kv.keys().then(
      (keys) => {
        const index = new OrderedMap<string, true>();
        for (const k of keys) if (this.isOurs(k)) index.set(k, true);
        return (this.index = index);
      },
      () => (this.index = new OrderedMap<string, true>()),
    );
    return this.loading;
  }

  /** Queues one key's new value; resolves once a batch holding it is written. */
  private write(storeKey: string, value: StoredAnswer | undefined): Promise<void> {
    this.pending.set(storeKey, value);
    this.writing ??= this.flush();
    return this.writing;
  }

  private async flush(): Promise<void> {
    try {
      // Let the writes of this turn join the batch.
      await Promise.resolve();
      while (this.pending.size > 0) {
        const keys = [...this.pending.keys()];
        const values = keys.map((k) => this.pending.get(k));
        try {
          await this.kv.set(keys, values);
        } finally {
          // Keys changed again while the batch was written stay pending for the next one.
          keys.forEach((k, i) => {
            if (this.pending.get(k) === values[i]) this.pending.delete(k);
          });
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}
