/** How the flow answers one delivery that entered it: a 2xx with its messageId, or a 5xx to be asked again. */
export interface ReplyHandle {
  answer(status: number, messageId?: string): void;
}

/** The deliveries in the flows of this runtime that wait for an answer, by the id in `msg._webhook`. */
const handles = new Map<string, ReplyHandle>();

export const replyHandles = {
  add(id: string, handle: ReplyHandle): void {
    handles.set(id, handle);
  },
  delete(id: string): void {
    handles.delete(id);
  },
  /** Removes and returns the handle for an id, or undefined when it was answered or given back. */
  take(id: unknown): ReplyHandle | undefined {
    if (typeof id !== "string") return undefined;
    const handle = handles.get(id);
    handles.delete(id);
    return handle;
  },
  get size(): number {
    return handles.size;
  },
};
