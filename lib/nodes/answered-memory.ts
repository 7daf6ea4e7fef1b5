import type { NodeContextData } from "node-red";

interface Remembered {
  id: string;
  at: number;
}

const CONTEXT_KEY = "answeredDeliveries";

/**
 * The messages a webhook node already answered, with the messageId it answered, so that a redelivery gets
 * the same answer and does not enter the flow twice. It lives in the node's context, in the store the node
 * names, so instances that share a context store plugin share it. Bounded: past `max` entries the oldest
 * tenth is forgotten.
 */
export class AnsweredMemory {
  constructor(
    private readonly context: NodeContextData,
    private readonly store: string | undefined,
    private readonly max: number,
  ) {}

  private read(): Promise<Record<string, Remembered>> {
    return new Promise((resolve, reject) => {
      this.context.get(CONTEXT_KEY, this.store as string, (err: Error | null | undefined, value: unknown) => {
        if (err) reject(err);
        else resolve(typeof value === "object" && value !== null ? (value as Record<string, Remembered>) : {});
      });
    });
  }

  private write(value: Record<string, Remembered>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.context.set(CONTEXT_KEY, value, this.store as string, (err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  /** The messageId answered for a delivery key, if any. */
  async recall(key: string): Promise<string | undefined> {
    const all = await this.read();
    return Object.prototype.hasOwnProperty.call(all, key) ? all[key].id : undefined;
  }

  async remember(key: string, id: string): Promise<void> {
    const all = await this.read();
    all[key] = { id, at: Date.now() };
    const keys = Object.keys(all);
    if (keys.length > this.max) {
      const oldest = keys.sort((a, b) => all[a].at - all[b].at).slice(0, keys.length - Math.floor(this.max * 0.9));
      for (const k of oldest) delete all[k];
    }
    await this.write(all);
  }
}
