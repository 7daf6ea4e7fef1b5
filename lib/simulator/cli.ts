#!/usr/bin/env node
import { parseArgs } from "util";
import { startSimulator, SIMULATOR_DEFAULTS, type SimulatorOptions } from "./simulator";
import { isWebhookUrl } from "./agent-side";

/** Each option: its flag, the environment variable that may set it instead, and what it means. */
const OPTIONS = {
  port: { env: "NEXUS_SIM_PORT", help: "TCP port (0 picks a free one)", fallback: "8085" },
  host: { env: "NEXUS_SIM_HOST", help: "address to listen on", fallback: SIMULATOR_DEFAULTS.host },
  "channel-id": { env: "NEXUS_SIM_CHANNEL_ID", help: "the channel id it serves", fallback: SIMULATOR_DEFAULTS.channelId },
  ccid: { env: "NEXUS_SIM_CCID", help: "the contact center id it expects in x-ccid", fallback: SIMULATOR_DEFAULTS.ccid },
  secret: { env: "NEXUS_SIM_SECRET", help: "the channel secret (the default is public: for trials on this machine)", fallback: SIMULATOR_DEFAULTS.secret },
  "api-key": { env: "NEXUS_SIM_API_KEY", help: "require this x-api-key (none by default)", fallback: "" },
  "max-media-bytes": { env: "NEXUS_SIM_MAX_MEDIA_BYTES", help: "largest media file (413 past it)", fallback: String(SIMULATOR_DEFAULTS.maxMediaBytes) },
  "max-message-bytes": { env: "NEXUS_SIM_MAX_MESSAGE_BYTES", help: "largest message body (413 past it)", fallback: String(SIMULATOR_DEFAULTS.maxMessageBytes) },
  "record-limit": { env: "NEXUS_SIM_RECORD_LIMIT", help: "requests kept for inspection (0 keeps none)", fallback: String(SIMULATOR_DEFAULTS.recordLimit) },
  "message-limit": { env: "NEXUS_SIM_MESSAGE_LIMIT", help: "consumer messages kept for inspection (0 keeps none; all are counted)", fallback: String(SIMULATOR_DEFAULTS.messageLimit) },
  "webhook-url": { env: "NEXUS_SIM_WEBHOOK_URL", help: "where agent messages are delivered", fallback: "" },
  "auto-reply": { env: "NEXUS_SIM_AUTO_REPLY", help: "answer each consumer message as the agent (true/false)", fallback: "true" },
  "reply-delay": { env: "NEXUS_SIM_REPLY_DELAY", help: "ms before the agent's automatic reply", fallback: "500" },
  "webhook-timeout": { env: "NEXUS_SIM_WEBHOOK_TIMEOUT", help: "ms to wait for the webhook's answer", fallback: "10000" },
  redeliveries: { env: "NEXUS_SIM_REDELIVERIES", help: "deliveries after the first on 5xx or no answer", fallback: "3" },
  "redelivery-delay": { env: "NEXUS_SIM_REDELIVERY_DELAY", help: "ms between deliveries", fallback: "1000" },
  "fault-503": { env: "NEXUS_SIM_FAULT_503", help: "fraction of requests answered 503", fallback: "0" },
  "fault-429": { env: "NEXUS_SIM_FAULT_429", help: "fraction of requests answered 429", fallback: "0" },
  "fault-reset": { env: "NEXUS_SIM_FAULT_RESET", help: "fraction of connections reset", fallback: "0" },
  "retry-after": { env: "NEXUS_SIM_RETRY_AFTER", help: "Retry-After seconds on injected 503/429", fallback: "" },
} as const;

type Name = keyof typeof OPTIONS;

/** The `--help` text: every option with its environment variable and its default (the public default secret included). */
export function usage(): string {
  const lines = Object.entries(OPTIONS).map(([flag, o]) => `  --${flag.padEnd(18)} ${o.help} (env ${o.env}${o.fallback ? `, default ${o.fallback}` : ""})`);
  return `Usage: genesys-nexus-simulator [options]\n\nA local stand-in for the Genesys Third-Party Messaging API (Nexus v3).\n\n${lines.join("\n")}\n  --quiet              print only the listening line\n  --help               this text\n`;
}

function number(name: Name, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number, not "${value}"`);
  return n;
}

/** Options from flags, then environment variables, then defaults. */
export function simulatorOptionsFrom(argv: string[], env: NodeJS.ProcessEnv): { options: SimulatorOptions; quiet: boolean; help: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries(Object.keys(OPTIONS).map((k) => [k, { type: "string" as const }])),
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  const flags = values as Record<string, string | boolean | undefined>;
  const get = (name: Name): string => (flags[name] as string | undefined) ?? env[OPTIONS[name].env] ?? OPTIONS[name].fallback;
  const rate = (name: Name): number | undefined => number(name, get(name)) || undefined;
  const options: SimulatorOptions = {
    port: number("port", get("port")),
    host: get("host"),
    channelId: get("channel-id"),
    ccid: get("ccid"),
    secret: get("secret"),
    apiKey: get("api-key") || undefined,
    maxMediaBytes: number("max-media-bytes", get("max-media-bytes")),
    maxMessageBytes: number("max-message-bytes", get("max-message-bytes")),
    recordLimit: number("record-limit", get("record-limit")),
    messageLimit: number("message-limit", get("message-limit")),
    agent: {
      webhookUrl: get("webhook-url") || undefined,
      autoReply: get("auto-reply") !== "false",
      replyDelayMs: number("reply-delay", get("reply-delay")),
      timeoutMs: number("webhook-timeout", get("webhook-timeout")),
      redeliveries: number("redeliveries", get("redeliveries")),
      redeliveryDelayMs: number("redelivery-delay", get("redelivery-delay")),
    },
    faultRates: {
      status503: rate("fault-503"),
      status429: rate("fault-429"),
      reset: rate("fault-reset"),
      retryAfter: get("retry-after") ? number("retry-after", get("retry-after")) : undefined,
    },
  };
  const webhookUrl = options.agent?.webhookUrl;
  if (webhookUrl !== undefined && !isWebhookUrl(webhookUrl)) throw new Error(`--webhook-url must be an http or https URL with a host, not "${webhookUrl}"`);
  return { options, quiet: values.quiet === true, help: values.help === true };
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof simulatorOptionsFrom>;
  try {
    parsed = simulatorOptionsFrom(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  if (parsed.help) {
    process.stdout.write(usage());
    return;
  }
  const { options, quiet } = parsed;
  const sim = await startSimulator({ ...options, log: quiet ? undefined : (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(`Nexus simulator listening on ${sim.baseUrl} (channel ${sim.options.channelId}, ccid ${sim.options.ccid})\n`);
  if (!quiet && sim.agent.webhookUrl) process.stdout.write(`Agent messages go to ${sim.agent.webhookUrl}\n`);
  const stop = (): void => {
    void sim.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`Nexus simulator could not start: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
