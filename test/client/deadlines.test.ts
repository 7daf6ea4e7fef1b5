import assert from "assert/strict";
import { Deadlines, type Expiring } from "../../lib/client/deadlines";

class Limited implements Expiring<Limited> {
  deadline = 0;
  prev: Limited | undefined;
  next: Limited | undefined;
  linked = false;
  expiredAt = 0;
  constructor(private readonly t0: number) {}
  expire(): void {
    this.expiredAt = performance.now() - this.t0;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The attempts' time limits on one timer: each ends at its own length, as with a timer of its own. */
describe("Deadlines", () => {
  it("expires each limit at its length, in the order set, and none that ended early", async () => {
    const deadlines = new Deadlines<Limited>(80);
    const t0 = performance.now();
    const a = new Limited(t0);
    deadlines.add(a);
    await sleep(30);
    const b = new Limited(t0);
    const c = new Limited(t0);
    deadlines.add(b);
    deadlines.add(c);
    deadlines.delete(b);
    await sleep(200);
    assert.ok(a.expiredAt >= 79 && a.expiredAt < 130, `a expired at ${a.expiredAt} ms`);
    assert.equal(b.expiredAt, 0, "a limit ended early never expires");
    assert.ok(c.expiredAt >= 109 && c.expiredAt < 170, `c expired at ${c.expiredAt} ms (set at 30 ms)`);
    assert.equal(deadlines.size, 0);
  });

  it("keeps every later limit on time when an expiry starts a new one (a retry started from a callback)", async () => {
    const deadlines = new Deadlines<Limited>(150);
    const t0 = performance.now();
    const b = new Limited(t0);
    const c = new Limited(t0);
    const a = new Limited(t0);
    // a's expiry starts c at once, as a retry from an onRetry callback would.
    a.expire = () => {
      a.expiredAt = performance.now() - t0;
      deadlines.add(c);
    };
    deadlines.add(a);
    await sleep(50);
    deadlines.add(b);
    await sleep(400);
    assert.ok(a.expiredAt >= 149 && a.expiredAt < 200, `a expired at ${a.expiredAt} ms`);
    assert.ok(b.expiredAt >= 199 && b.expiredAt < 260, `b (due at 200 ms) expired at ${b.expiredAt} ms`);
    assert.ok(c.expiredAt >= a.expiredAt + 149 && c.expiredAt < a.expiredAt + 210, `c (set at ${a.expiredAt} ms) expired at ${c.expiredAt} ms`);
  });

  it("runs no timer while nothing is pending, so that an idle process can exit", async () => {
    const deadlines = new Deadlines<Limited>(60_000);
    const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const a = new Limited(0);
    deadlines.add(a);
    assert.equal(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length, before + 1);
    deadlines.delete(a);
    assert.equal(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length, before);
    assert.equal(a.expiredAt, 0);
  });
});
