import type { NodeAPI, NodeDef } from "node-red";
import { CLIENT_DEFAULTS, NexusClient, NexusInputError, describeError, unsetEnvVar, type SignatureEncoding } from "../lib/client";
import { STOP_DRAIN_MS, type ChannelConfigNode } from "../lib/nodes/api-node";
import { simulatorMode } from "../lib/nodes/simulator-channel";
import { attachOutbox, OUTBOX_DEFAULTS, type OutboxChannelDef } from "../lib/nodes/outbox-glue";
import { SettingReader } from "../lib/nodes/setting-check";
import { clientErrorTranslator, translator } from "../lib/nodes/i18n";
import { guardedConstructor } from "../lib/nodes/guarded-constructor";
import sendEnglish from "./locales/en-US/genesys-nexus-send.json";

interface ChannelDef extends NodeDef, OutboxChannelDef {
  /** `genesys` (default) or `simulator`: see lib/nodes/simulator-channel. */
  mode?: string;
  baseUrl: string;
  channelId: string;
  ccid: string;
  timeout: number | string;
  retries: number | string;
  signatureEncoding?: SignatureEncoding;
  maxInFlight?: number | string;
  maxQueued?: number | string;
  /** Id of a core `tls-config` node. */
  tls?: string;
  /** Id of a core `http proxy` node. */
  proxy?: string;
}

interface TlsConfigNode {
  addTLSOptions(options: Record<string, unknown>): Record<string, unknown>;
}

interface HttpProxyNode {
  url?: string;
  noproxy?: string[];
  credentials?: { username?: string; password?: string };
}

interface ChannelCredentials {
  secret?: string;
  /** The secret being rotated out: webhooks still accept it; outgoing calls never use it. */
  previousSecret?: string;
  apiKey?: string;
}

/** `genesys-nexus-channel`: one Genesys channel, and the one long-lived client its flow nodes share. */
export = function (RED: NodeAPI): void {
  function GenesysNexusChannel(this: ChannelConfigNode & { credentials: ChannelCredentials }, config: ChannelDef): void {
    RED.nodes.createNode(this, config);
    // Credentials are text; anything else a flow file holds counts as not set.
    const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
    const given = (this.credentials ?? {}) as Record<string, unknown>;
    const credentials: ChannelCredentials = { secret: text(given.secret), previousSecret: text(given.previousSecret), apiKey: text(given.apiKey) };
    let client: NexusClient | undefined;
    let configError: Error | undefined;

    const tlsOptions = (): Record<string, unknown> | undefined => {
      const tlsNode = typeof config.tls === "string" && config.tls ? (RED.nodes.getNode(config.tls) as unknown as TlsConfigNode | null) : null;
      return tlsNode?.addTLSOptions({});
    };
    const proxyOptions = (): { url: string; noProxy?: string[]; username?: string; password?: string } | undefined => {
      const proxyNode = typeof config.proxy === "string" && config.proxy ? (RED.nodes.getNode(config.proxy) as unknown as HttpProxyNode | null) : null;
      if (!proxyNode?.url) return undefined;
      return { url: proxyNode.url, noProxy: proxyNode.noproxy, username: proxyNode.credentials?.username, password: proxyNode.credentials?.password };
    };

    // Settings a flow file may hold in any form: each one that cannot be used is named once, here.
    const read = new SettingReader(RED, this);
    const settings = {
      mode: read.choice("mode", config.mode, ["genesys", "simulator"] as const, "genesys", true),
      timeout: read.number("timeout", config.timeout, { min: 1, fallback: CLIENT_DEFAULTS.timeout }),
      retries: read.number("retries", config.retries, { min: 0, fallback: CLIENT_DEFAULTS.retries }),
      maxInFlight: read.number("maxInFlight", config.maxInFlight, { min: 1, fallback: CLIENT_DEFAULTS.maxInFlight }),
      maxQueued: read.number("maxQueued", config.maxQueued, { min: 0, fallback: CLIENT_DEFAULTS.maxQueued }),
      signatureEncoding: read.choice("signatureEncoding", config.signatureEncoding, ["hex", "base64"] as const, "hex"),
    };
    const outboxSettings: OutboxChannelDef = {
      id: config.id,
      outboxLimit: read.number("outboxLimit", config.outboxLimit, { min: 1, fallback: OUTBOX_DEFAULTS.limit }),
      outboxMaxAge: read.number("outboxMaxAge", config.outboxMaxAge, { min: 0, above: true, fallback: OUTBOX_DEFAULTS.maxAgeSeconds }),
      outboxProbeMax: read.number("outboxProbeMax", config.outboxProbeMax, { min: 0, above: true, fallback: OUTBOX_DEFAULTS.probeMaxSeconds }),
    };

    // In simulator mode the package's simulator runs inside Node-RED and stands in for all of the below.
    const simulator = simulatorMode(RED, this, settings);

    // Built on first use, so that a misconfigured channel fails the messages that use it, not the deploy.
    this.client = (): NexusClient => {
      if (client) return client;
      if (configError) throw configError;
      if (simulator) return (client = simulator.client(settings));
      try {
        client = new NexusClient({
          baseUrl: config.baseUrl,
          channelId: config.channelId,
          ccid: config.ccid,
          secret: credentials.secret ?? "",
          apiKey: credentials.apiKey,
          timeout: settings.timeout,
          retries: settings.retries,
          signatureEncoding: settings.signatureEncoding,
          maxInFlight: settings.maxInFlight,
          maxQueued: settings.maxQueued,
          userAgent: "node-red-genesys-messaging",
          tls: tlsOptions(),
          proxy: proxyOptions(),
        });
      } catch (err) {
        configError = err as Error;
        // A proxy set outside the channel's own fields (an http proxy node, HTTP_PROXY) is named in the log too.
        if (err instanceof NexusInputError && /^config-proxy-/.test(err.parts[0]?.[0] ?? "")) this.error(describeError(err, clientErrorTranslator(RED)));
        throw configError;
      }
      return client;
    };

    // A secret still written as ${NAME} reads an environment variable that is not set: no secret at all.
    const unset = unsetEnvVar(credentials.secret) ?? unsetEnvVar(credentials.previousSecret);
    const secrets = credentials.secret && !unset ? [credentials.secret, ...(credentials.previousSecret ? [credentials.previousSecret] : [])] : [];
    this.verificationSecrets = (): string[] => secrets;
    this.secretProblem = (): NexusInputError | undefined =>
      unset ? new NexusInputError("config-env-unset", { field: "secret", name: unset }) : secrets.length === 0 ? new NexusInputError("config-secret") : undefined;
    (this as { channelId: string }).channelId = String(config.channelId ?? "").trim();
    if (simulator) simulator.attach(this);

    // The outbox of the send nodes that keep what cannot be sent now (their texts are the send node's).
    const closeOutbox = attachOutbox(RED, this, outboxSettings, translator(RED, "genesys-nexus-send", sendEnglish));

    // Requests already sent may finish (as the flow nodes let them); what waits ends at once.
    this.on("close", (_removed: boolean, done: () => void) => {
      const closing = client?.close(STOP_DRAIN_MS);
      void Promise.allSettled([closing, closeOutbox()])
        .then(() => simulator?.close())
        .then(() => {
          client = undefined;
          done();
        });
    });
  }

  RED.nodes.registerType("genesys-nexus-channel", guardedConstructor(RED, GenesysNexusChannel as never) as never, {
    credentials: {
      secret: { type: "password" },
      previousSecret: { type: "password" },
      apiKey: { type: "password" },
    },
  });
};
