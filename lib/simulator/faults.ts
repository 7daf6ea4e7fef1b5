import type { IncomingMessage, ServerResponse } from "http";

/** One misbehaviour the simulator can show in place of (or before) a normal answer. */
export type Fault =
  /** Answer with this status (and `Retry-After` when given) without handling the request. */
  | { kind: "status"; status: number; retryAfter?: string | number }
  /** Reset the connection before reading the request. */
  | { kind: "reset" }
  /** Never answer; the connection stays open until the client gives up. */
  | { kind: "hang" }
  /** Wait, then handle the request normally. */
  | { kind: "delay"; ms: number }
  /** Handle the request, but send the answer's bytes slowly. */
  | { kind: "slow-body"; chunkDelayMs: number };

/** Fractions (0..1) of API requests that get a random fault. */
export interface FaultRates {
  status503?: number;
  status429?: number;
  status500?: number;
  reset?: number;
  hang?: number;
  /** `Retry-After` (seconds) sent with random 503 and 429 answers; none when absent. */
  retryAfter?: number;
}

/** Decides, per request, whether a fault replaces the normal answer: queued faults first, then random ones. */
export class FaultInjector {
  private readonly queue: Fault[] = [];
  private readonly hanging = new Set<ServerResponse>();
  rates: FaultRates;

  constructor(rates: FaultRates = {}) {
    this.rates = rates;
  }

  enqueue(...faults: Fault[]): void {
    this.queue.push(...faults);
  }

  clear(): void {
    this.queue.length = 0;
    this.rates = {};
    this.releaseHanging();
  }

  next(): Fault | undefined {
    const queued = this.queue.shift();
    if (queued) return queued;
    const r = this.rates;
    let roll = Math.random();
    const pick: Array<[number | undefined, () => Fault]> = [
      [r.status503, () => ({ kind: "status", status: 503, retryAfter: r.retryAfter })],
      [r.status429, () => ({ kind: "status", status: 429, retryAfter: r.retryAfter })],
      [r.status500, () => ({ kind: "status", status: 500 })],
      [r.reset, () => ({ kind: "reset" })],
      [r.hang, () => ({ kind: "hang" })],
    ];
    for (const [rate, make] of pick) {
      if (!rate) continue;
      if (roll < rate) return make();
      roll -= rate;
    }
    return undefined;
  }

  /**
   * Acts out a fault. Resolves true when the fault took the request over entirely, false when the request
   * should now be handled normally (after a delay, or with a slow body set up on `res`).
   */
  async apply(fault: Fault, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    switch (fault.kind) {
      case "status": {
        const text = JSON.stringify({ status: { code: fault.status, message: `Injected fault ${fault.status}` } });
        const headers: Record<string, string | number> = { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) };
        if (fault.retryAfter !== undefined) headers["Retry-After"] = String(fault.retryAfter);
        req.resume();
        res.writeHead(fault.status, headers);
        res.end(text);
        return true;
      }
      case "reset":
        req.socket.resetAndDestroy();
        return true;
      case "hang":
        req.resume();
        this.hanging.add(res);
        res.on("close", () => this.hanging.delete(res));
        return true;
      case "delay":
        await new Promise((resolve) => setTimeout(resolve, fault.ms));
        return false;
      case "slow-body":
        slowBody(res, fault.chunkDelayMs);
        return false;
    }
  }

  /** Closes the connections of hanging requests (on reset and shutdown). */
  releaseHanging(): void {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
  }
}

/** Makes `res.end(body)` send the body a few bytes at a time. */
function slowBody(res: ServerResponse, chunkDelayMs: number): void {
  const end = res.end.bind(res) as (chunk?: Buffer | string) => ServerResponse;
  const write = res.write.bind(res) as (chunk: Buffer) => boolean;
  (res as { end: unknown }).end = (chunk?: Buffer | string): ServerResponse => {
    const bytes = chunk === undefined ? Buffer.alloc(0) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    let pos = 0;
    const step = (): void => {
      if (res.destroyed) return;
      if (pos >= bytes.length) {
        end();
        return;
      }
      write(bytes.subarray(pos, pos + 8));
      pos += 8;
      setTimeout(step, chunkDelayMs);
    };
    step();
    return res;
  };
}
