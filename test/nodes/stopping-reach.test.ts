import assert from "assert/strict";
import { promises as fsp } from "fs";
import os from "os";
import path from "path";
import { freePort, helper, until, watchCrashes } from "../support";
import { answer, okEnvelope, rawHttpServer, type RawServer } from "../raw-http-server";
import { flowFor, load, outcome, type Loaded, type Msg } from "./flow";

/**
 * Issue 17, second round, in a real Node-RED runtime: a message that waits for a retry when the flow stops
 * and whose attempts all failed before anything could arrive is logged and ended as "not sent"
 * (msg.reachedGenesys "no"); a download to a file reset mid-answer is retried; a garbled Retry-After is
 * ignored.
 */
describe("the retry rule when the flow stops, and downloads to a file", function () {
  this.timeout(60_000);
  const crashes = watchCrashes();
  let server: RawServer | undefined;

  afterEach(async () => {
    await helper.unload();
    await server?.close();
    server = undefined;
    assert.deepEqual(crashes, [], "no unhandled rejection or exception");
  });

  /** Sends one message, waits until `waiting` holds, stops the flow, and returns the warnings and the error. */
  async function stopWhileWaiting(loaded: Loaded, msg: Msg, waiting: () => boolean): Promise<{ warnings: string[]; error: Error; msg: Msg }> {
    const warnings: string[] = [];
    const errors: Array<{ error: Error; msg: Msg }> = [];
    const warn = loaded.n1.warn.bind(loaded.n1);
    loaded.n1.warn = (text: unknown) => {
      warnings.push(String(text));
      warn(text);
    };
    const error = loaded.n1.error.bind(loaded.n1);
    loaded.n1.error = (err: Error, m: Msg) => {
      errors.push({ error: err, msg: m });
      error(err, m);
    };
    loaded.n1.receive(msg);
    await until(waiting, 10_000, "the message waits for a retry");
    const started = Date.now();
    await helper.unload();
    assert.ok(Date.now() - started < 2000, "the waiting message ended at once");
    assert.equal(errors.length, 1, "the message ended once");
    return { warnings, ...errors[0] };
  }

  it("a send refused on every attempt (retries 8), stopped while it waits: not sent, reachedGenesys no", async () => {
    const loaded = await load(flowFor({ baseUrl: `http://127.0.0.1:${await freePort()}/nexus/v3` }, { type: "genesys-nexus-send" }, { retries: 8 }));
    const ended = await stopWhileWaiting(loaded, { payload: { text: "x" }, traceId: "refused0000000001" }, () => loaded.statuses.filter((s) => s.fill === "yellow").length >= 2);
    assert.equal(ended.msg.reachedGenesys, "no");
    assert.doesNotMatch(ended.error.message, /may have received/);
    const log = ended.warnings.join("\n");
    assert.match(log, /refused0000000001 was not sent to Genesys/);
    assert.doesNotMatch(log, /was sent to Genesys|may have received/);
  });

  it("a send answered 503 with Retry-After: 20, stopped while it waits: not sent, reachedGenesys no", async () => {
    server = await rawHttpServer((_req, socket) => socket.write(answer(503, { status: { code: 503, message: "busy" } }, "Retry-After: 20\r\n")));
    const loaded = await load(flowFor(server, { type: "genesys-nexus-send" }, { retries: 3 }));
    const ended = await stopWhileWaiting(loaded, { payload: { text: "x" }, traceId: "busy000000000001" }, () => loaded.statuses.some((s) => s.fill === "yellow"));
    assert.equal(ended.msg.reachedGenesys, "no");
    assert.doesNotMatch(ended.error.message, /may have received/);
    assert.match(ended.warnings.join("\n"), /busy000000000001 was not sent to Genesys/);
    assert.equal(server!.requests.length, 1);
  });

  it("a download with Save to file reset mid-answer is retried and succeeds; no partial file is left", async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "nexus-stop-"));
    try {
      const bytes = Buffer.alloc(200_000, 3);
      server = await rawHttpServer((_req, socket) => {
        const head = `HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: ${bytes.length}\r\n\r\n`;
        if (server!.requests.length === 1) socket.write(Buffer.concat([Buffer.from(head), bytes.subarray(0, 10_000)]), () => socket.resetAndDestroy());
        else socket.write(Buffer.concat([Buffer.from(head), bytes]));
      });
      const file = path.join(dir, "photo.png");
      const loaded = await load(flowFor(server, { type: "genesys-nexus-download", mediaId: "m-1", mediaIdType: "str", saveTo: file, saveToType: "str" }, { retries: 3 }));
      const ended = await outcome(loaded, {});
      assert.equal(ended.kind, "output");
      assert.ok((await fsp.readFile(file)).equals(bytes));
      assert.equal(server.requests.length, 2);
      assert.deepEqual(await fsp.readdir(dir), ["photo.png"]);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it("429 with a garbled Retry-After (x 2030) is retried after the normal backoff, without msg.retryAfter", async () => {
    server = await rawHttpServer((req, socket) =>
      socket.write(server!.requests.length === 1 ? answer(429, { status: { code: 429, message: "slow" } }, "Retry-After: x 2030\r\n") : answer(200, okEnvelope(req))),
    );
    const loaded = await load(flowFor(server, { type: "genesys-nexus-send" }, { retries: 3 }));
    const started = Date.now();
    const ended = await outcome(loaded, { payload: { text: "x" } });
    assert.equal(ended.kind, "output");
    assert.ok(Date.now() - started < 3000);
    assert.equal(ended.msg.retryAfter, undefined);
    assert.equal(server.requests.length, 2);
  });
});
