import { createHash } from "crypto";
import type { IncomingHttpHeaders } from "http";
import { verifySignature } from "../client/signature";
import { isValidTraceId, newTraceId } from "../client/trace-id";
import { parseJson } from "../http/json-text";

/** What a webhook does with one delivery from Genesys, decided from its raw bytes and headers alone. */
export type DeliveryVerdict =
  | { accepted: false; status: 400 | 401 }
  | { accepted: true; payload: unknown; traceId: string; key: string };

/** The bodies of the webhook's refusals. They never say why a signature failed. */
export const REFUSAL_BODIES: Record<number, { error: string }> = {
  400: { error: "Bad Request" },
  401: { error: "Unauthorized" },
  413: { error: "Payload Too Large" },
  500: { error: "Internal Server Error" },
  503: { error: "Service Unavailable" },
};

/** The body of a refusal or redelivery request with this status. */
export function refusal(status: number): { error: string } {
  return REFUSAL_BODIES[status] ?? { error: "Redeliver" };
}

/**
 * Verifies `X-Hub-Signature` over the raw body (hex or base64, constant time) with any of the secrets (the
 * channel's, then the one being rotated out), then parses the JSON as RFC 8259 allows (a leading byte
 * order mark is ignored; the signature still covers every byte). A wrong or missing signature is refused
 * before the body is even parsed.
 */
export function inspectDelivery(rawBody: Buffer, headers: IncomingHttpHeaders, secrets: readonly string[]): DeliveryVerdict {
  const signature = headers["x-hub-signature"];
  if (!secrets.some((secret) => verifySignature(rawBody, signature, secret))) return { accepted: false, status: 401 };
  let payload: unknown;
  try {
    payload = parseJson(rawBody);
  } catch {
    return { accepted: false, status: 400 };
  }
  const given = headers["x-b3-traceid"];
  return { accepted: true, payload, traceId: isValidTraceId(given) ? given : newTraceId(), key: deliveryKey(payload, rawBody) };
}

/**
 * What makes two deliveries the same message: Genesys's `messageId` when the body has one, else the body's
 * digest (a redelivery carries the same bytes).
 */
export function deliveryKey(payload: unknown, rawBody: Buffer): string {
  const id = typeof payload === "object" && payload !== null ? (payload as { messageId?: unknown }).messageId : undefined;
  if (typeof id === "string" && id !== "") return `id:${id}`;
  return `sha1:${createHash("sha1").update(rawBody).digest("hex")}`;
}
