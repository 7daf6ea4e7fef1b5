/** One part of a multipart/form-data body. */
export interface FormPart {
  name?: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/** The boundary named in a multipart Content-Type, or undefined. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data/i.test(contentType)) return undefined;
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

function headerParam(header: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|;)\\s*${name}="((?:[^"\\\\]|\\\\.)*)"`, "i").exec(header) ?? new RegExp(`(?:^|;)\\s*${name}=([^;]+)`, "i").exec(header);
  return m ? m[1].trim() : undefined;
}

/**
 * Splits a complete multipart body into parts. Strict on framing (the simulator is meant to catch a
 * client that gets it wrong): returns undefined when the body is not well formed.
 */
export function parseMultipart(body: Buffer, boundary: string): FormPart[] | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: FormPart[] = [];
  let pos = body.indexOf(delimiter);
  if (pos !== 0) return undefined;
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === "--") return parts.length ? parts : undefined;
    if (body.subarray(pos, pos + 2).toString() !== "\r\n") return undefined;
    pos += 2;
    const headerEnd = body.indexOf("\r\n\r\n", pos);
    if (headerEnd < 0) return undefined;
    const headers = body.subarray(pos, headerEnd).toString("utf8").split("\r\n");
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), headerEnd + 4);
    if (next < 0) return undefined;
    const part: FormPart = { data: body.subarray(headerEnd + 4, next) };
    for (const line of headers) {
      const colon = line.indexOf(":");
      if (colon < 0) return undefined;
      const key = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (key === "content-disposition") {
        part.name = headerParam(value, "name");
        part.filename = headerParam(value, "filename");
      } else if (key === "content-type") {
        part.contentType = value;
      }
    }
    parts.push(part);
    pos = next + 2;
  }
}
