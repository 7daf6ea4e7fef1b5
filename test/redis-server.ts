import { spawn, type ChildProcess } from "child_process";
import fs from "fs";
import os from "os";
import path from "path";
import { freePort } from "./support";

/** Is Debian's redis-server on this machine? (`.ci/run` installs it.) */
export function hasRedisServer(): boolean {
  return ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].some((p) => fs.existsSync(p));
}

/**
 * In a suite's `before`: skips it (with a line that says so) where redis-server is missing, or fails it
 * when REQUIRE_REDIS says the tests must run (as in CI).
 */
export function requireRedis(suite: Mocha.Context): void {
  if (hasRedisServer()) return;
  if (process.env.REQUIRE_REDIS) throw new Error("redis-server is not installed: apt-get install -y redis-server");
  console.warn("  (the Redis tests are skipped: redis-server is not installed; apt-get install -y redis-server)");
  suite.skip();
}


/**
 * A real redis-server on loopback, started the way a user starts it, with its data in a temporary folder
 * (append-only file on, so that a stop and a start keep what was written). It can be stopped and started
 * again on the same port.
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-redis-"));
  port = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    const child = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--appendonly", "yes", "--appendfsync", "always", "--save", ""], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    const end = Date.now() + 10_000;
    while (!/Ready to accept connections/.test(out)) {
      if (child.exitCode !== null || Date.now() > end) throw new Error(`redis-server did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this;
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
