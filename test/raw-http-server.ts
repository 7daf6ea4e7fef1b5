import net, { type AddressInfo, type Socket } from "net";

/** One request as a raw server read it, and the connection (numbered from 1) it came on. */
export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  connection: number;
}

export interface RawServer {
  baseUrl: string;
  port: number;
  requests: RawRequest[];
  /** Connections opened, and the numbers of those closed. */
  opened(): number;
  closed: Set<number>;
  close(): Promise<void>;
}

/**
 * An HTTP/1.1 server on a raw `net` socket: the hostile end of the wire. It reads each request whole
 * (Content-Length or chunked body) and lets `handle` write whatever bytes it likes, or close, or reset.
 */
export async function rawHttpServer(handle: (req: RawRequest, socket: Socket) => void, port = 0): Promise<RawServer> {
  const requests: RawRequest[] = [];
  const sockets = new Set<Socket>();
  const closed = new Set<number>();
  let opened = 0;
  const server = net.createServer((socket) => {
    const connection = ++opened;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => {
      sockets.delete(socket);
      closed.add(connection);
    });
    let pending = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) return;
        const lines = pending.subarray(0, end).toString("latin1").split("\r\n");
        const [method, path] = lines[0].split(" ");
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(":");
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        let rest = pending.subarray(end + 4);
        let body: Buffer;
        if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
          const parts: Buffer[] = [];
          let at = 0;
          for (;;) {
            const eol = rest.indexOf("\r\n", at);
            if (eol < 0) return;
            const size = parseInt(rest.subarray(at, eol).toString(), 16);
            if (rest.length < eol + 2 + size + 2) return;
            if (size === 0) {
              at = eol + 4;
              break;
            }
            parts.push(rest.subarray(eol + 2, eol + 2 + size));
            at = eol + 2 + size + 2;
          }
          body = Buffer.concat(parts);
          rest = rest.subarray(at);
        } else {
          const length = Number(headers["content-length"] ?? 0);
          if (rest.length < length) return;
          body = rest.subarray(0, length);
          rest = rest.subarray(length);
        }
        pending = rest;
        const req = { method, path, headers, body, connection };
        requests.push(req);
        handle(req, socket);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${bound}/nexus/v3`,
    port: bound,
    requests,
    opened: () => opened,
    closed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A complete HTTP/1.1 answer with a JSON body. */
export function answer(status: number, body: unknown, extraHeaders = ""): string {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return `HTTP/1.1 ${status} ${status === 200 ? "OK" : "Status"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${extraHeaders}\r\n${text}`;
}

/** The envelope Genesys answers a send or an upload with. */
export function okEnvelope(req: RawRequest): unknown {
  return req.path.endsWith("/media")
    ? { status: { code: 0, message: "OK" }, data: { mediaId: "m-1", url: "genesys://nexus/m-1", filename: "f", mimetype: "text/plain", length: 1 } }
    : { status: { code: 0, message: "OK" }, data: { ids: [{ id: "x" }] } };
}
