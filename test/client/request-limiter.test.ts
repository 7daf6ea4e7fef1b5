import assert from "assert/strict";
import { RequestLimiter } from "../../lib/client/request-limiter";

type Place = { ready: Promise<void>; cancel(): void };

/** The channel's bound on requests in flight, and its queue. */
describe("RequestLimiter", () => {
  it("hands slots on in order, skips places left, and gives back a slot handed to a place just left", async () => {
    const limiter = new RequestLimiter(1, 100);
    assert.equal(limiter.acquire(), true);
    const places = Array.from({ length: 6 }, () => limiter.acquire() as Place);
    const order: number[] = [];
    places.forEach((p, i) => void p.ready.then(() => order.push(i)));
    places[1].cancel();
    places[3].cancel();
    assert.equal(limiter.queued, 4);
    limiter.release(); // to 0
    await Promise.resolve();
    places[0].cancel(); // left after its slot was handed: the slot goes on to 2
    limiter.release(); // 2's slot, to 4
    limiter.release(); // 4's, to 5
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, [0, 2, 4, 5]);
    assert.equal(limiter.queued, 0);
    assert.equal(limiter.inFlight, 1);
    limiter.release();
    assert.equal(limiter.inFlight, 0);
  });

  it("refuses past its queue bound, and takes again once places are left", () => {
    const limiter = new RequestLimiter(1, 2);
    limiter.acquire();
    const a = limiter.acquire() as Place;
    limiter.acquire();
    assert.equal(limiter.acquire(), false);
    a.cancel();
    assert.notEqual(limiter.acquire(), false);
    // 100,000 places left one by one: each leaves at once (a stop cancels every queued call).
    const big = new RequestLimiter(1, 100_000);
    big.acquire();
    const many = Array.from({ length: 100_000 }, () => big.acquire() as Place);
    for (const p of many) p.cancel();
    assert.equal(big.queued, 0);
  });
});
