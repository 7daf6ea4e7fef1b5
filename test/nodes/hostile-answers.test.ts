import assert from "assert/strict";
import { helper, refusedUrl, watchCrashes } from "../support";
import { answer, okEnvelope, rawHttpServer, type RawServer } from "../raw-http-server";
import { flowFor, load, outcome } from "./flow";

/** Issue 16 in the Node-RED runtime: header injection is refused, hostile answer headers never reach msg. */
describe("header injection and hostile answer headers, in the runtime", function () {
  this.timeout(30_000);
  const crashes = watchCrashes();
  let server: RawServer | undefined;
  afterEach(async () => {
    await helper.unload();
    await server?.close();
    server = undefined;
    assert.deepEqual(crashes, [], "no unhandled rejection or exception");
  });

  it("refuses a contact center id with characters past U+00FF before any request, naming the field", async () => {
    server = await rawHttpServer((req, socket) => socket.write(answer(200, okEnvelope(req))));
    const loaded = await load(flowFor(server, { type: "genesys-nexus-send" }, { ccid: "cc\u010d\u010aX-Injected: yes" }));
    const ended = await outcome(loaded, { payload: { text: "x" } });
    assert.equal(ended.kind, "error");
    assert.match(ended.msg.error.message, /contact center id/);
    assert.equal(ended.msg.reachedGenesys, "no");
    assert.equal(server.opened(), 0, "no request");
  });

  it("refuses an API key with characters past U+00FF before any request, naming the field", async () => {
    server = await rawHttpServer((req, socket) => socket.write(answer(200, okEnvelope(req))));
    const loaded = await load(flowFor(server, { type: "genesys-nexus-send" }), { chan: { secret: "s", apiKey: "key\u010d\u010aX-Injected: yes" } });
    const ended = await outcome(loaded, { payload: { text: "x" } });
    assert.equal(ended.kind, "error");
    assert.match(ended.msg.error.message, /API key/);
    assert.equal(server.opened(), 0, "no request");
  });

  for (const [what, separator] of [["CR", "\r"], ["LF", "\n"], ["NUL", "\0"], ["a C1 control (CSI)", "\x9b"], ["a C1 control (NEL)", "\x85"], ["DEL", "\x7f"]]) {
    it(`a download answered with ${what} inside Content-Type is a protocol error; nothing of it reaches msg`, async () => {
      const hostile = `HTTP/1.1 200 OK\r\nContent-Type: image/png${separator}X-Evil: 1\r\nContent-Length: 2\r\n\r\nok`;
      server = await rawHttpServer((_req, socket) => socket.write(Buffer.from(hostile, "latin1")));
      const loaded = await load(flowFor(server, { type: "genesys-nexus-download", mediaId: "m-1", mediaIdType: "str" }, { retries: 0 }));
      const ended = await outcome(loaded, {});
      assert.equal(ended.kind, "error");
      assert.equal(ended.msg.mimetype, undefined);
      assert.equal(ended.msg.payload, undefined);
      assert.doesNotMatch(JSON.stringify(ended.msg), /X-Evil/);
      assert.match(ended.msg.error.message, /does not follow HTTP\/1\.1/);
      assert.equal(loaded.statuses.at(-1)?.text, "failed: malformed answer");
    });
  }

  it("a status says what a network failure was: unreachable (refused), connection lost (reset after the request was written)", async () => {
    server = await rawHttpServer((_req, socket) => socket.destroy());
    const loaded = await load(flowFor(server, { type: "genesys-nexus-send" }, { retries: 0 }));
    const ended = await outcome(loaded, { payload: { text: "x" } });
    assert.equal(ended.kind, "error");
    assert.equal(ended.msg.reachedGenesys, "maybe");
    assert.equal(loaded.statuses.at(-1)?.text, "failed: connection lost");
    await helper.unload();
    await server.close();
    server = undefined;
    const refused = await load(flowFor({ baseUrl: await refusedUrl() }, { type: "genesys-nexus-send" }, { retries: 0 }));
    const failed = await outcome(refused, { payload: { text: "x" } });
    assert.equal(failed.msg.reachedGenesys, "no");
    assert.equal(refused.statuses.at(-1)?.text, "failed: unreachable");
  });
});
