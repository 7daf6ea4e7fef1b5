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
