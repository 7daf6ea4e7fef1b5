import { randomUUID } from "crypto";
import { ANSWER_TTL_MS, type ClaimOutcome, type DedupeStore } from "./dedupe-store";
import { refusal } from "./delivery";
import { replyHandles } from "./reply-handles";
import { OrderedMap } from "../util/ordered-map";

/** Writes the HTTP answer to one delivery request (once; later calls are ignored by the writer). */
export type Respond = (status: number, body: unknown) => void;

/** A delivery the flow never answers is given back (it may enter the flow again) after this many reply timeouts. */
export const GIVE_BACK_FACTOR = 4;

export interface DeliveriesOptions {
  store: DedupeStore;
  /** How long one request waits for the flow's answer before it gets 503 (Genesys then delivers again). */
  replyTimeoutMs: number;
  /** Answers kept in the process for redeliveries, at most. */
  remember: number;
  /** Sends a claimed delivery into the flow, with the id the response node answers it by. */
  emit(payload: unknown, traceId: string, handle: string): void;
  /** The store could not be reached: the delivery got 503 and did not enter the flow. */
  onStoreError?(err: Error): void;
  /** The store answered again after an error. */
  onStoreOk?(): void;
  /** The flow's answer could not be kept in the store (it was still sent to Genesys). */
  onAnswerNotKept?(err: Error): void;
  /** A request got 503 because the flow had not answered it in time; the delivery stays in progress. */
  onReplyTimeout?(): void;
  /** The flow never answered: the delivery was given back, and its next delivery enters the flow again. */
  onGiveBack?(): void;
}

interface Waiter {
  respond: Respond;
  timer: NodeJS.Timeout;
}

/** One delivery key this process is dealing with, and every request for it that waits. */
interface Entry {
  key: string;
  /** claiming: asking the store; in-flow: claimed and emitted; remote: claimed by another instance. */
  state: "claiming" | "in-flow" | "remote";
  owner: string;
  waiters: Set<Waiter>;
  handle?: string;
  timer?: NodeJS.Timeout;
}

/**
 * The delivery state of one webhook: which deliveries are in the flow, which requests wait for them, what
 * was answered, and when an unanswered delivery is given back. It knows nothing of Node-RED or HTTP: the
 * webhook hands it verified deliveries and a way to answer each request.
 *
 * - A delivery key is claimed in the process at once (one entry per key), then in the store; only the
 *   request that claims it enters the flow. Every other request for the key waits for the answer, each
 *   with its own reply timeout, after which it gets 503 (Genesys delivers again).
 * - The delivery stays in progress after its reply timeout: an answer that comes later is kept, and the
 *   next delivery gets it (200 with that messageId) without entering the flow.
 * - A delivery the flow never answers is given back after GIVE_BACK_FACTOR reply timeouts; a 5xx from
 *   the flow gives it back at once. The next delivery then enters the flow again.
 * - When the store cannot be reached, the request gets 503 and nothing enters the flow.
 */
export class WebhookDeliveries {
  private readonly entries = new Map<string, Entry>();
  /** Answers known in this process, oldest first: a redelivery answered here needs no store at all. */
  private readonly answers = new OrderedMap<string, { id: string; at: number }>();
  private readonly giveBackMs: number;
  private closed = false;

  constructor(private readonly options: DeliveriesOptions) {
    this.giveBackMs = options.replyTimeoutMs * GIVE_BACK_FACTOR;
  }

  /** Deliveries claimed or waited for in this process. */
  get inProgress(): number {
    return this.entries.size;
  }

  /** Deals with one verified delivery: answers it from memory, joins a delivery in progress, or claims it. */
  receive(key: string, payload: unknown, traceId: string, respond: Respond): void {
    if (this.closed) return respond(503, refusal(503));
    const known = this.recall(key);
    if (known !== undefined) return respond(200, { messageId: known });
    const current = this.entries.get(key);
    if (current) return this.wait(current, respond);
    const entry: Entry = { key, state: "claiming", owner: randomUUID(), waiters: new Set() };
    this.entries.set(key, entry);
    this.wait(entry, respond);
    this.claim(entry, payload, traceId);
  }

  /** Answers every waiting request 503 and gives back what is in the flow; then closes the store. */
  async close(): Promise<void> {
    this.closed = true;
    const releases: Array<Promise<void>> = [];
    for (const entry of [...this.entries.values()]) {
      if (entry.state === "in-flow") releases.push(this.release(entry));
      this.finish(entry, 503, refusal(503));
    }
    await Promise.all(releases);
    await this.options.store.close();
  }

  private claim(entry: Entry, payload: unknown, traceId: string): void {
    this.options.store.claim(entry.key, entry.owner, this.giveBackMs).then(
      (outcome) => this.claimed(entry, outcome, payload, traceId),
      (err: unknown) => this.storeFailed(entry, err),
    );
  }

  private claimed(entry: Entry, outcome: ClaimOutcome, payload: unknown, traceId: string): void {
    if (this.entries.get(entry.key) !== entry) {
      // Every request for it gave up (or the webhook closed) while the store answered.
      if (outcome.state === "claimed") void this.release(entry);
      return;
    }
    this.options.onStoreOk?.();
    if (outcome.state === "answered") {
      this.remember(entry.key, outcome.messageId);
      return this.finish(entry, 200, { messageId: outcome.messageId });
    }
    if (outcome.state === "busy") {
      entry.state = "remote";
      return this.poll(entry, payload, traceId, 0);
    }
    entry.state = "in-flow";
    const handle = randomUUID();
    entry.handle = handle;
    replyHandles.add(handle, { answer: (status, messageId) => this.answer(entry, status, messageId) });
    entry.timer = setTimeout(() => this.giveBack(entry), this.giveBackMs);
    this.options.emit(payload, traceId, handle);
  }

  /** Another instance has the delivery in its flow: look again, less often each time, while anyone waits. */
  private poll(entry: Entry, payload: unknown, traceId: string, round: number): void {
    entry.timer = setTimeout(() => {
      this.options.store.lookup(entry.key).then(
        (found) => {
          if (this.entries.get(entry.key) !== entry) return;
          if (found.state === "answered") {
            this.remember(entry.key, found.messageId);
            this.finish(entry, 200, { messageId: found.messageId });
          } else if (found.state === "free") {
            // Given back by the other instance: this one may take it.
            entry.state = "claiming";
            this.claim(entry, payload, traceId);
          } else this.poll(entry, payload, traceId, round + 1);
        },
        (err: unknown) => this.storeFailed(entry, err),
      );
    }, Math.min(25 * 2 ** round, 500));
  }

  /** The flow's answer, from the response node: kept and sent to every request still waiting. */
  private answer(entry: Entry, status: number, messageId: string | undefined): void {
    if (this.entries.get(entry.key) !== entry) return;
    if (status >= 500) {
      void this.release(entry);
      return this.finish(entry, status, refusal(status));
    }
    const id = messageId ?? randomUUID();
    this.remember(entry.key, id);
    this.options.store.answer(entry.key, id).catch((err: unknown) => this.options.onAnswerNotKept?.(asError(err)));
    this.finish(entry, 200, { messageId: id });
  }

  private giveBack(entry: Entry): void {
    if (this.entries.get(entry.key) !== entry) return;
    void this.release(entry);
    this.options.onGiveBack?.();
    this.finish(entry, 503, refusal(503));
  }

  private wait(entry: Entry, respond: Respond): void {
    const waiter: Waiter = {
      respond,
      timer: setTimeout(() => {
        entry.waiters.delete(waiter);
        respond(503, refusal(503));
        if (entry.state === "in-flow") this.options.onReplyTimeout?.();
        else if (entry.waiters.size === 0 && this.entries.get(entry.key) === entry) {
          // Nobody waits for a claim or another instance any more: stop; a redelivery starts afresh.
          clearTimeout(entry.timer);
          this.entries.delete(entry.key);
        }
      }, this.options.replyTimeoutMs),
    };
    entry.waiters.add(waiter);
  }

  /** Answers every waiting request and forgets the entry. */
  private finish(entry: Entry, status: number, body: unknown): void {
    clearTimeout(entry.timer);
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    if (entry.handle) replyHandles.delete(entry.handle);
    for (const waiter of entry.waiters) {
      clearTimeout(waiter.timer);
      waiter.respond(status, body);
    }
    entry.waiters.clear();
  }

  private storeFailed(entry: Entry, err: unknown): void {
    this.options.onStoreError?.(asError(err));
    if (this.entries.get(entry.key) === entry) this.finish(entry, 503, refusal(503));
  }

  private release(entry: Entry): Promise<void> {
    return this.options.store.release(entry.key, entry.owner).catch(() => {
      // The claim expires by itself.
    });
  }

  private recall(key: string): string | undefined {
    const known = this.answers.get(key);
    if (known === undefined) return undefined;
    if (Date.now() - known.at > ANSWER_TTL_MS) {
      this.answers.delete(key);
      return undefined;
    }
    return known.id;
  }

  private remember(key: string, id: string): void {
    this.answers.set(key, { id, at: Date.now() });
    while (this.answers.size > this.options.remember) this.answers.shift();
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
