import { execFileSync } from "child_process";
import os from "os";

/**
 * Keeps the measured process and its helpers (the simulator, a load generator) on different cores, so that
 * they do not take turns on one core and the measured CPU per request is not inflated by that; with
 * `taskset` (util-linux) on a machine of 2 or more cores. The measured process gets the first core, helpers
 * the last. `BENCH_PIN=0` turns it off; where taskset is missing nothing changes. Returns whether it pinned.
 */
export function pinToCore(pid: number | undefined, role: "measured" | "helper"): boolean {
  const cores = os.cpus().length;
  if (pid === undefined || process.env.BENCH_PIN === "0" || process.platform !== "linux" || cores < 2) return false;
  try {
    // -a: every thread the process has (V8's and libuv's); threads it starts later inherit the core.
    execFileSync("taskset", ["-a", "-c", "-p", String(role === "measured" ? 0 : cores - 1), String(pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
