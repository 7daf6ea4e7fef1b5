import { createHmac, timingSafeEqual, type Hmac } from "crypto";

/** Header that carries the HMAC-SHA1 of the exact body bytes. */
export const SIGNATURE_HEADER = "X-Hub-Signature";

/**
 * Digest encoding of the signature. The public reference does not say; hex is the convention the header
 * name comes from (see nexus-api.md, "Decisions on signing"), base64 is a channel option.
 */
export type SignatureEncoding = "hex" | "base64";

const PREFIX = "sha1=";
const DIGEST_BYTES = 20;
const HEX_DIGEST = /^[0-9a-fA-F]{40}$/;
const BASE64_DIGEST = /^[A-Za-z0-9+/]{27}=$/;

/** An incremental HMAC-SHA1 keyed with the channel secret, for bodies that are streamed. */
export function createSignatureHmac(secret: string | Uint8Array): Hmac {
  return createHmac("sha1", secret);
}

/** `sha1=` + the digest in the chosen encoding. */
export function formatSignature(digest: Buffer, encoding: SignatureEncoding = "hex"): string {
  return PREFIX + digest.toString(encoding);
}

/** The `X-Hub-Signature` value for a body (an empty body for GET and DELETE). */
export function signBody(body: Uint8Array | string, secret: string | Uint8Array, encoding: SignatureEncoding = "hex"): string {
  return formatSignature(createSignatureHmac(secret).update(body).digest(), encoding);
}

/** Decodes the digest of a header value, or returns undefined when it is neither hex nor base64. */
function decodeDigest(header: string): Buffer | undefined {
  if (header.length < PREFIX.length || header.slice(0, PREFIX.length).toLowerCase() !== PREFIX) return undefined;
  const value = header.slice(PREFIX.length).trim();
  if (HEX_DIGEST.test(value)) return Buffer.from(value, "hex");
  if (BASE64_DIGEST.test(value)) return Buffer.from(value, "base64");
  return undefined;
}

/**
 * Checks a received `X-Hub-Signature` against the raw body bytes, accepting hex (any case) and base64.
 * The digest comparison runs in constant time; a malformed header is compared against zeros so that it
 * costs the same as a wrong one.
 */
export function verifySignature(body: Uint8Array | string, header: unknown, secret: string | Uint8Array): boolean {
  const expected = createSignatureHmac(secret).update(body).digest();
  const given = typeof header === "string" ? decodeDigest(header) : undefined;
  const same = timingSafeEqual(expected, given ?? Buffer.alloc(DIGEST_BYTES));
  return given !== undefined && same;
}
