/**
 * Reading JSON that comes from outside (API answers, webhook bodies, requests to the simulator) the way
 * RFC 8259 allows it: the text is UTF-8 (section 8.1), and a parser "MAY ignore the presence of a byte
 * order mark rather than treating it as an error" (section 8.1), which we do, because Windows tools,
 * .NET's default encoder and many gateways write one. Whitespace around the value is JSON's own (section 2).
 * The bytes themselves are never changed: a signature is still verified over what arrived.
 */

const BOM = 0xfeff;

/** The text of a JSON body: UTF-8 decoded, without a leading byte order mark (EF BB BF). */
export function jsonText(body: Buffer | string): string {
  const text = typeof body === "string" ? body : body.toString("utf8");
  return text.charCodeAt(0) === BOM ? text.slice(1) : text;
}

/** `JSON.parse` of a body read as RFC 8259 allows (a leading BOM ignored). Throws a SyntaxError when it is not JSON. */
export function parseJson(body: Buffer | string): unknown {
  return JSON.parse(jsonText(body));
}

/** The JSON value of a body, or `undefined` when it is not JSON (nor empty JSON text). */
export function tryParseJson(body: Buffer | string): unknown {
  try {
    return parseJson(body);
  } catch {
    return undefined;
  }
}

/**
 * Whether a body may hold a JSON object, judged by its first bytes alone (a BOM and whitespace skipped):
 * a cheap test before parsing something that may be a large binary file.
 */
export function mayBeJsonObject(body: Buffer): boolean {
  let i = body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x09 || body[i] === 0x0a || body[i] === 0x0d)) i++;
  return body[i] === 0x7b;
}
