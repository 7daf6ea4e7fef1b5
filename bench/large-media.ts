/**
 * Large media keep memory bounded: a 512 MiB file goes up (signed in one pass over the file, then streamed)
 * and comes back down to a file, while this process's peak memory rises by less than 64 MiB. The simulator
 * runs in its own process. Run with `npm run bench:media`.
 */
import fs from "fs";
import os from "os";
import path from "path";
import { Readable } from "stream";
import { NexusClient } from "../lib/client";
import { startSimulatorProcess } from "./simulator-process";

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_MEDIA_MIB ?? 512) * MiB;
const LIMIT = 64 * MiB;

function peakRss(): number {
  // maxRSS is in KiB: the process's peak resident memory so far.
  return process.resourceUsage().maxRSS * 1024;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-bench-media-"));
  const file = path.join(dir, "large.bin");
  const fd = fs.openSync(file, "w");
  const block = Buffer.alloc(MiB, 0x5a);
  for (let written = 0; written < SIZE; written += MiB) fs.writeSync(fd, block);
  fs.closeSync(fd);

  const sim = await startSimulatorProcess(["--max-media-bytes", String(SIZE + MiB)]);
  const client = new NexusClient({ baseUrl: sim.baseUrl, channelId: sim.channelId, ccid: sim.ccid, secret: sim.secret, timeout: 300_000, retries: 0 });
  try {
    // Warm up: load every code path once, so the baseline holds what any upload needs.
    const warm = await client.uploadMedia({ content: Buffer.alloc(MiB), filename: "warm.bin" });
    await client.downloadMediaToFile(warm.mediaId, path.join(dir, "warm.out"));
    if (global.gc) global.gc();
    const rows: Array<[string, number, number]> = [];

    let before = process.memoryUsage().rss;
    let started = Date.now();
    const up = await client.uploadMedia({ path: file });
    rows.push(["upload 512 MiB from a file path", peakRss() - before, Date.now() - started]);

    before = Math.max(process.memoryUsage().rss, peakRss());
    started = Date.now();
    const down = await client.downloadMediaToFile(up.mediaId, path.join(dir, "large.out"));
    if (down.bytes !== SIZE) throw new Error(`downloaded ${down.bytes} bytes, expected ${SIZE}`);
    rows.push(["download 512 MiB to a file", peakRss() - before, Date.now() - started]);

    before = Math.max(process.memoryUsage().rss, peakRss());
    started = Date.now();
    await client.uploadMedia({ content: fs.createReadStream(file) as Readable, filename: "stream.bin" });
    rows.push(["upload 512 MiB from a stream (spooled)", peakRss() - before, Date.now() - started]);

    console.log(`Large media, ${SIZE / MiB} MiB, Node ${process.version}, ${os.cpus().length} cores`);
    console.log("| case | peak memory rise | of the 64 MiB bound | time |");
    console.log("|---|---|---|---|");
    let ok = true;
    for (const [name, rise, ms] of rows) {
      const ratio = Math.max(0, rise) / LIMIT;
      ok &&= rise < LIMIT;
      console.log(`| ${name} | ${(Math.max(0, rise) / MiB).toFixed(1)} MiB | ${ratio.toFixed(2)}x | ${(ms / 1000).toFixed(1)} s |`);
    }
    console.log(ok ? "All within the bound." : "OVER THE BOUND");
    process.exitCode = ok ? 0 : 1;
  } finally {
    client.close();
    await sim.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
