import { createHash } from "crypto";
import type { NodeContextData } from "node-red";
import { KeyValueDedupeStore, type DedupeStore, type KeyValue } from "../webhook/dedupe-store";
import { connectRedis, isRedisUrl, RedisDedupeStore, type RedisEvents } from "../webhook/redis-dedupe-store";

const CONTEXT_PREFIX = "delivery_";

/** A node's context, in one context store, as the key-value store the dedupe memory writes to. */
function contextKeyValue(context: NodeContextData, store: string | undefined): KeyValue {
  const ctx = context as unknown as {
    get(key: string, store: string | undefined, cb: (err: Error | null | undefined, value: unknown) => void): void;
    set(keys: string[], values: unknown[], store: string | undefined, cb: (err?: Error | null) => void): void;
    keys(store: string | undefined, cb: (err: Error | null | undefined, keys: string[]) => void): void;
  };
  return {
    get: (key) => new Promise((resolve, reject) => ctx.get(key, store, (err, value) => (err ? reject(err) : resolve(value)))),
    set: (keys, values) => new Promise((resolve, reject) => ctx.set(keys, values, store, (err) => (err ? reject(err) : resolve()))),
    keys: () => new Promise((resolve, reject) => ctx.keys(store, (err, keys) => (err ? reject(err) : resolve(keys ?? [])))),
  };
}

export interface WebhookStoreSettings {
  dedupeStore?: string;
  contextStore?: string;
  remember: number;
  redisUrl?: string;
  /** Scopes the Redis keys: instances share deliveries of the same channel and path only. */
  channelId: string;
  path: string;
  commandTimeoutMs: number;
}

/** Where a webhook node keeps its deliveries: its context (default), or Redis shared by several instances. */
export function webhookDedupeStore(context: NodeContextData, settings: WebhookStoreSettings, events: RedisEvents): DedupeStore | { invalid: "redis-url"; status: "status.no-redis-url" | "status.bad-redis-url" } {
  if (settings.dedupeStore === "redis") {
    const given = typeof settings.redisUrl === "string" && settings.redisUrl.trim() !== "";
    if (!isRedisUrl(settings.redisUrl)) return { invalid: "redis-url", status: given ? "status.bad-redis-url" : "status.no-redis-url" };
    let redis: ReturnType<typeof connectRedis>;
    try {
      redis = connectRedis(settings.redisUrl.trim(), settings.commandTimeoutMs, events);
    } catch {
      // What ioredis refuses that the check let through is as unusable: the node answers 503, never throws.
      return { invalid: "redis-url", status: "status.bad-redis-url" };
    }
    // Express matches paths without regard to case, so the path is scoped the same way.
    return new RedisDedupeStore(redis, `genesys-nexus:${settings.channelId}:${settings.path.toLowerCase()}:`);
  }
  return new KeyValueDedupeStore(
    contextKeyValue(context, settings.contextStore || undefined),
    (key) => CONTEXT_PREFIX + createHash("sha1").update(key).digest("hex"),
    (key) => key.startsWith(CONTEXT_PREFIX),
    settings.remember,
  );
}

/**
 * A Redis error's text without the password of the URL (a client may repeat the URL it was given), raw,
 * as the URL parser encodes it, and percent-decoded when it decodes. Never throws: a password with a raw
 * `%` (not valid percent-encoding) is masked as written.
 */
export function scrubbed(text: string, redisUrl: unknown): string {
  if (typeof redisUrl !== "string" || redisUrl.trim() === "") return text;
  const url = redisUrl.trim();
  const forms = new Set<string>([url]);
  const raw = /^[a-z][a-z0-9+.-]*:\/\/[^@/]*?:([^@/]*)@/i.exec(url)?.[1];
  if (raw) forms.add(raw);
  try {
    const { password } = new URL(url);
    if (password) forms.add(password);
  } catch {
    // not a URL: the raw forms are all there is
  }
  for (const form of [...forms]) {
    try {
      forms.add(decodeURIComponent(form));
    } catch {
      // not valid percent-encoding: masked as written
    }
  }
  forms.delete("");
  let out = text;
  for (const form of [...forms].sort((a, b) => b.length - a.length)) out = out.split(form).join("***");
  return out;
}
