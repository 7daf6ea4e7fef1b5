import { ANSWER_TTL_MS, type ClaimOutcome, type DedupeStore, type Lookup } from "./dedupe-store";

/** The few Redis commands the store uses, as ioredis offers them. */
export interface RedisCommands {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, px: "PX", ms: number): Promise<unknown>;
  eval(script: string, keys: number, ...args: Array<string | number>): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

const CLAIM_PREFIX = "c:";
const ANSWER_PREFIX = "a:";

// Get-or-set in one step: Redis runs a script atomically, so two instances can never both claim a key.
const CLAIM = `local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`;

// Deletes a claim only while its owner still holds it (it may have expired and been claimed by another).
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

function read(value: unknown): Lookup {
  if (typeof value !== "string") return { state: "free" };
  if (value.startsWith(ANSWER_PREFIX)) return { state: "answered", messageId: value.slice(ANSWER_PREFIX.length) };
  return { state: "busy" };
}

/**
 * Claims and answers shared by several Node-RED instances behind one URL. A claim is set only where no
 * value exists, with an expiry (the time after which an unanswered delivery is given back); an answer
 * replaces it and expires after a day. Keys are `<prefix><delivery key>`, the prefix naming the channel
 * and the webhook path.
 */
export class RedisDedupeStore implements DedupeStore {
  constructor(
    private readonly redis: RedisCommands,
    private readonly prefix: string,
    private readonly answerTtlMs = ANSWER_TTL_MS,
  ) {}

  async claim(key: string, owner: string, ttlMs: number): Promise<ClaimOutcome> {
    const found = read(await this.redis.eval(CLAIM, 1, this.prefix + key, CLAIM_PREFIX + owner, Math.max(1, Math.round(ttlMs))));
    return found.state === "free" ? { state: "claimed" } : found;
  }

  async lookup(key: string): Promise<Lookup> {
    return read(await this.redis.get(this.prefix + key));
  }

  async answer(key: string, messageId: string): Promise<void> {
    await this.redis.set(this.prefix + key, ANSWER_PREFIX + messageId, "PX", this.answerTtlMs);
  }

  async release(key: string, owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.prefix + key, CLAIM_PREFIX + owner);
  }

  async close(): Promise<void> {
    // quit() waits for the server's answer, which never comes while it is down.
    await Promise.race([this.redis.quit().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 500).unref())]);
    this.redis.disconnect();
  }
}

/** What a Redis connection tells whoever shows its state. */
export interface RedisEvents {
  onReady(): void;
  onError(err: Error): void;
}

/**
 * A connection for the store, with ioredis (loaded only when a webhook uses Redis). Commands fail fast
 * while Redis is down (no retries of a request), wait briefly while it reconnects, and never longer than
 * `commandTimeoutMs`; the connection itself is retried forever with a capped backoff.
 */
export function connectRedis(url: string, commandTimeoutMs: number, events: RedisEvents): RedisCommands {
  // Checked here too: ioredis throws from its constructor on a URL it cannot read.
  if (!isRedisUrl(url)) throw new TypeError("The Redis URL is not valid");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Redis = require("ioredis") as typeof import("ioredis").default;
  const redis = new Redis(url, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(1000, commandTimeoutMs),
    retryStrategy: (times) => Math.min(100 * times, 2000),
    lazyConnect: false,
  });
  redis.on("ready", () => events.onReady());
  redis.on("error", (err: Error) => events.onError(err));
  return redis as unknown as RedisCommands;
}

/**
 * Whether a Redis URL can be used, checked without connecting, as ioredis will read it: `redis://` or
 * `rediss://`, a host, a user name and password in valid percent-encoding (a raw `%` in a password must
 * be written `%25`: ioredis decodes them, and a bad sequence would throw), and a database number, if any,
 * that is a whole number. Never throws, whatever it is given.
 */
export function isRedisUrl(url: unknown): url is string {
  if (typeof url !== "string" || url.trim() === "" || /[\x00-\x1f\x7f]/.test(url.trim())) return false;
  try {
    const parsed = new URL(url.trim());
    if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") return false;
    if (parsed.hostname === "") return false;
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
    const db = parsed.pathname.replace(/^\//, "");
    return db === "" || /^\d{1,9}$/.test(db);
  } catch {
    return false;
  }
}
