import type { ServerResponse } from "http";

/**
 * One webhook request waiting for the flow's answer. Redeliveries of the same message that arrive while it
 * waits join it, and all get the one answer.
 */
export interface PendingReply {
  readonly id: string;
  readonly key: string;
  readonly responses: ServerResponse[];
  /** Answers every waiting response, once. */
  answer(status: number, body: unknown): void;
  /** Called with the third party's messageId after a 2xx answer, to remember it for redeliveries. */
  remember(messageId: string): void;
}

/** The replies all webhook nodes of this runtime wait for, by handle id; the response node takes them. */
const pending = new Map<string, PendingReply>();

export const pendingReplies = {
  add(reply: PendingReply): void {
    pending.set(reply.id, reply);
  },
  /** Removes and returns the reply for a handle, or undefined when it was answered or timed out. */
  take(id: unknown): PendingReply | undefined {
    if (typeof id !== "string") return undefined;
    const reply = pending.get(id);
    pending.delete(id);
    return reply;
  },
  get size(): number {
    return pending.size;
  },
};
