import { randomUUID } from "crypto";
import http, { type IncomingMessage, type ServerResponse } from "http";
import https from "https";
import { signBody, type SignatureEncoding } from "../client/signature";
import { newTraceId } from "../client/trace-id";
import { readRawBody } from "../http/read-body";
import { writeJson } from "../http/write-json";
import { parseJson } from "../http/json-text";
import type { ReceivedMessage } from "./simulator";

/** How the simulator plays Genesys's side of the webhook. */
export interface AgentOptions {
  /**
   * The third party's webhook URL; without it no agent message is delivered. A function names it at each
   * delivery (a channel's built-in simulator asks Node-RED where its webhook node listens right then).
   */
  webhookUrl?: string | (() => string | undefined);
  /**
   * Accept any TLS certificate from the webhook (default false). Only for a webhook on this machine, such as
   * the Node-RED that runs the simulator inside a channel and serves HTTPS with its own certificate.
   */
  acceptAnyCertificate?: boolean;
  /** Answer each consumer message with an agent message (default true). */
  autoReply?: boolean;
  /** How long the agent "types" before the automatic reply, in ms (default 500). */
  replyDelayMs?: number;
  /** How long to wait for the webhook's answer, in ms (default 10000, as Genesys does). */
  timeoutMs?: number;
  /** Deliveries after the first one when the answer is 5xx, missing or late (default 3). */
  redeliveries?: number;
  /** Wait between deliveries of one message, in ms (default 1000). */
  redeliveryDelayMs?: number;
  /** Digest encoding of the signature sent (default hex). */
  signatureEncoding?: SignatureEncoding;
  /**
   * Told when a delivery to `url` ends without a 2xx answer with a messageId (after any redeliveries):
   * refused (4xx), failing (5xx), late or unreachable. The last attempt says how.
   */
  onUndelivered?: (delivery: Delivery, url: string) => void;
}

export interface DeliveryAttempt {
  /** HTTP status of the webhook's answer; 0 when none came. */
  status: number;
  /** `messageId` from a 2xx answer. */
  messageId?: string;
  error?: string;
}

export interface Delivery {
  id: string;
  message: Record<string, unknown>;
  traceId: string;
  attempts: DeliveryAttempt[];
  /** True once a 2xx with a messageId came back. */
  answered: boolean;
  /** The webhook's id for the message, from the 2xx answer. */
  messageId?: string;
  /** True once no more attempts will be made. */
  finished: boolean;
}

const AGENT_DEFAULTS = { replyDelayMs: 500, timeoutMs: 10_000, redeliveries: 3, redeliveryDelayMs: 1000 };

/** An agent message answering a consumer message, in the vocabulary of nexus-api.md. */
export function agentReplyTo(consumer: Record<string, unknown>): Record<string, unknown> {
  const from = consumer.from as { id?: unknown; nickname?: unknown } | undefined;
  const text = typeof consumer.text === "string" ? consumer.text : consumer.type === "RichMedia" ? "(a file)" : "your message";
  const name = typeof from?.nickname === "string" ? ` ${from.nickname}` : "";
  return {
    channel: typeof consumer.channel === "string" ? consumer.channel : "sms",
    messageId: `agent-${randomUUID()}`,
    from: { id: "agent-1", nickname: "Simulated agent" },
    to: { id: typeof from?.id === "string" ? from.id : "consumer" },
    type: "Text",
    text: `Hello${name}, this is the simulated agent. I got: "${text}"`,
    inReplyTo: consumer.messageId,
  };
}

/** An http or https URL with a host, which the agent side can deliver to. */
export function isWebhookUrl(value: unknown): value is string {
  if (typeof value !== "string") return false;
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}

/** Delivers agent messages to a webhook the way Genesys does: signed, time-limited, redelivered on 5xx. */
export class AgentSide {
  readonly deliveries: Delivery[] = [];
  private options: AgentOptions;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly requests = new Set<http.ClientRequest>();
  private closed = false;

  constructor(
    private readonly secret: string,
    options: AgentOptions,
    private readonly log: (line: string) => void,
  ) {
    this.options = { ...options };
  }

  get webhookUrl(): string | undefined {
    const url = this.options.webhookUrl;
    return typeof url === "function" ? url() : url;
  }

  /** Changes the webhook URL or any other agent option while running. */
  configure(options: AgentOptions): void {
    this.options = { ...this.options, ...options };
  }

  onConsumerMessage(received: ReceivedMessage): void {
    if (this.options.autoReply === false || !this.webhookUrl) return;
    const reply = agentReplyTo(received.body as Record<string, unknown>);
    this.later(this.options.replyDelayMs ?? AGENT_DEFAULTS.replyDelayMs, () => {
      this.deliver(reply).catch((err: unknown) => this.log(`agent: delivery failed: ${(err as Error).message}`));
    });
  }

  /** Delivers one agent message, with redeliveries; resolves when no more attempts will be made. */
  async deliver(message: Record<string, unknown>, traceId = newTraceId()): Promise<Delivery> {
    const delivery: Delivery = { id: randomUUID(), message, traceId, attempts: [], answered: false, finished: false };
    this.deliveries.push(delivery);
    if (this.deliveries.length > 1000) this.deliveries.shift();
    const url = this.webhookUrl;
    if (!url) {
      delivery.attempts.push({ status: 0, error: "no webhook URL is set" });
      delivery.finished = true;
      return delivery;
    }
    const body = Buffer.from(JSON.stringify(message));
    const signature = signBody(body, this.secret, this.options.signatureEncoding ?? "hex");
    const redeliveries = this.options.redeliveries ?? AGENT_DEFAULTS.redeliveries;
    for (let attempt = 0; attempt <= redeliveries && !this.closed; attempt++) {
      if (attempt > 0) await new Promise<void>((resolve) => this.later(this.options.redeliveryDelayMs ?? AGENT_DEFAULTS.redeliveryDelayMs, resolve));
      if (this.closed) break;
      const result = await this.post(url, body, signature, traceId);
      delivery.attempts.push(result);
      this.log(`agent: delivery ${delivery.id} attempt ${attempt + 1} -> ${result.status || result.error}`);
      if (result.status >= 200 && result.status < 300) {
        delivery.answered = true;
        delivery.messageId = result.messageId;
        break;
      }
      // Genesys redelivers on 5xx and on no answer; any other status is final.
      if (result.status !== 0 && result.status < 500) break;
    }
    delivery.finished = true;
    if (!delivery.answered && !this.closed) {
      try {
        this.options.onUndelivered?.(delivery, url);
      } catch (err) {
        this.log(`agent: ${(err as Error).message}`);
      }
    }
    return delivery;
  }

  private post(url: string, body: Buffer, signature: string, traceId: string): Promise<DeliveryAttempt> {
    return new Promise((resolve) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        return resolve({ status: 0, error: `the webhook URL ${JSON.stringify(url)} is not a URL` });
      }
      const transport = target.protocol === "https:" ? https : http;
      let req: http.ClientRequest;
      try {
        req = transport.request(
          target,
          {
            method: "POST",
            headers: {
              "Content-Type": "application/json",
              "Content-Length": body.length,
              "X-Hub-Signature": signature,
              "X-B3-TraceId": traceId,
            },
            timeout: this.options.timeoutMs ?? AGENT_DEFAULTS.timeoutMs,
            agent: false,
            ...(target.protocol === "https:" && this.options.acceptAnyCertificate ? { rejectUnauthorized: false } : {}),
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            // A webhook answer is a small JSON object; the rest of an endless one is not kept.
            res.on("data", (c: Buffer) => {
              if (size < 64 * 1024) chunks.push(c);
              size += c.length;
            });
            res.on("end", () => {
              this.requests.delete(req);
              const status = res.statusCode ?? 0;
              let messageId: string | undefined;
              try {
                const parsed = parseJson(Buffer.concat(chunks)) as { messageId?: unknown };
                if (typeof parsed.messageId === "string") messageId = parsed.messageId;
              } catch {
                // no JSON: the status alone tells
              }
              if (status >= 200 && status < 300 && !messageId) {
                resolve({ status, error: "the answer has no messageId" });
              } else resolve({ status, messageId });
            });
            res.on("error", (err) => resolve({ status: 0, error: err.message }));
          },
        );
      } catch (err) {
        return resolve({ status: 0, error: (err as Error).message });
      }
      this.requests.add(req);
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.options.timeoutMs ?? AGENT_DEFAULTS.timeoutMs} ms`)));
      req.on("error", (err) => {
        this.requests.delete(req);
        resolve({ status: 0, error: err.message });
      });
      req.end(body);
    });
  }

  /** Control endpoints under /simulator/, for tests, the demo and people. */
  async handleControl(req: IncomingMessage, res: ServerResponse, url: URL, sim: { messages: ReceivedMessage[]; media: Map<string, unknown> }): Promise<void> {
    const json = (status: number, value: unknown): void => writeJson(res, status, value);
    let body: Buffer;
    try {
      body = await readRawBody(req, 1024 * 1024);
    } catch {
      return json(413, { error: "The body is larger than 1 MiB" });
    }
    const parse = (): Record<string, unknown> | undefined => {
      try {
        const value = (body.length === 0 ? {} : parseJson(body)) as unknown;
        return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
      } catch {
        return undefined;
      }
    };
    const route = `${req.method} ${url.pathname}`;
    if (route === "POST /simulator/agent-messages") {
      const given = parse();
      if (!given) return json(400, { error: "Send a JSON object: an agent message, or {\"text\": \"...\"}" });
      const message: Record<string, unknown> =
        given.type !== undefined
          ? given
          : {
              channel: "sms",
              messageId: `agent-${randomUUID()}`,
              from: { id: "agent-1", nickname: "Simulated agent" },
              to: { id: typeof given.to === "string" ? given.to : "consumer" },
              type: "Text",
              text: typeof given.text === "string" ? given.text : "Hello from the simulated agent",
            };
      if (!this.webhookUrl) return json(409, { error: "No webhook URL is set: start the simulator with --webhook-url or PUT /simulator/webhook" });
      const pending = this.deliver(message);
      if (url.searchParams.get("wait") === "false") return json(202, { accepted: true });
      return json(200, await pending);
    }
    if (route === "PUT /simulator/webhook") {
      const given = parse();
      const target = given?.url;
      if (!isWebhookUrl(target)) return json(400, { error: "Send {\"url\": \"http://host:port/path\"}: an http or https URL with a host" });
      this.configure({ webhookUrl: target });
      return json(200, { webhookUrl: target });
    }
    if (route === "GET /simulator/deliveries") return json(200, this.deliveries);
    if (route === "GET /simulator/messages") return json(200, sim.messages.map(({ id, body: b, traceId }) => ({ id, body: b, traceId })));
    if (route === "GET /simulator/state") {
      return json(200, { webhookUrl: this.webhookUrl ?? null, messages: sim.messages.length, media: sim.media.size, deliveries: this.deliveries.length });
    }
    json(404, { error: `No such simulator endpoint: ${route}` });
  }

  reset(): void {
    this.deliveries.length = 0;
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const r of this.requests) r.destroy();
    this.requests.clear();
  }

  private later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }
}
