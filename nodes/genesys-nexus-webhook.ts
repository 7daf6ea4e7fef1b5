import type { ServerResponse } from "http";
import type { Node, NodeAPI, NodeDef } from "node-red";
import { inspectDelivery, refusal } from "../lib/webhook/delivery";
import { WebhookDeliveries, GIVE_BACK_FACTOR } from "../lib/webhook/deliveries";
import { describeError } from "../lib/client";
import { channelNodeOf, channelProblemText } from "../lib/nodes/api-node";
import { guardedConstructor } from "../lib/nodes/guarded-constructor";
import { clientErrorTranslator, translator } from "../lib/nodes/i18n";
import { writeJson } from "../lib/http/write-json";
import { RateLog } from "../lib/nodes/rate-log";
import { rawBodyOf, type CapturedRequest } from "../lib/nodes/raw-body-capture";
import { adminPathOf, describeOwner, mountWebhookRoute, type OtherRoute } from "../lib/nodes/webhook-route";
import { scrubbed, webhookDedupeStore } from "../lib/nodes/webhook-store";
import { SettingReader } from "../lib/nodes/setting-check";
import { attachSimulatedWebhook, simulatorStatusTag } from "../lib/nodes/simulator-channel";
import english from "./locales/en-US/genesys-nexus-webhook.json";
import { webhookPathProblem } from "../lib/nodes/webhook-path";

interface WebhookDef extends NodeDef {
  channel: string;
  url: string;
  replyTimeout?: number | string;
  dedupeStore?: string;
  contextStore?: string;
  remember?: number | string;
  maxBodyBytes?: number | string;
}

/** How long a node that stops waits for its dedupe store to write what is pending and disconnect. */
const CLOSE_BOUND_MS = 3000;

/** `genesys-nexus-webhook`: receives agent messages that Genesys POSTs, verified, once each. */
export = function (RED: NodeAPI): void {
  const t = translator(RED, "genesys-nexus-webhook", english);

  function GenesysNexusWebhook(this: Node & { credentials?: { redisUrl?: string } }, config: WebhookDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const channel = channelNodeOf(RED, config.channel);
    const secrets = channel?.verificationSecrets() ?? [];
    if (typeof config.url !== "string") config.url = "";
    // The route's path as the core http in node takes it: a leading "/" added, nothing else changed.
    const path = config.url ? (config.url.startsWith("/") ? config.url : `/${config.url}`) : "";
    // Each setting it cannot use is named once in the log, with the default used instead.
    const read = new SettingReader(RED, node);
    const numberOr = (name: string, value: unknown, fallback: number): number => Math.min(read.number(name, value, { min: 0, above: true, fallback }), 2_147_483_647);
    const replyTimeout = numberOr("replyTimeout", config.replyTimeout, 8000);
    const remember = numberOr("remember", config.remember, 1000);
    // A body must be complete within the reply timeout: Genesys waits 10 s for the whole answer.
    const limit = numberOr("maxBodyBytes", config.maxBodyBytes, 1024 * 1024);
    const redisUrl = node.credentials?.redisUrl;
    const warnRate = (first: string, repeated: (count: number, seconds: number) => string): RateLog => new RateLog((line) => node.warn(line), first, repeated);
    const badSignatures = warnRate(t("errors.bad-signature"), (count, seconds) => t("errors.bad-signatures", { count, seconds }));
    const abortedBodies = warnRate(t("errors.aborted-body"), (count, seconds) => t("errors.aborted-bodies", { count, seconds }));
    const consumedBodies = new RateLog((line) => node.error(line), t("errors.body-consumed"), (count, seconds) => t("errors.bodies-consumed", { count, seconds }));
    const lateReplies = warnRate(t("errors.reply-timeout", { ms: replyTimeout }), (count, seconds) => t("errors.reply-timeouts", { count, seconds }));
    let storeError: RateLog | undefined;
    let answersNotKept: RateLog | undefined;

    // The status changes only when it differs from the one shown: never once per delivery under load.
    let shown = "";
    // On a simulated channel every status says so (lib/nodes/simulator-channel).
    const simulated = channel?.mode === "simulator" ? simulatorStatusTag(RED) : undefined;
    const show = (fill: "red" | "green" | "yellow", shape: "ring" | "dot", key: string): void => {
      if (shown === key) return;
      shown = key;
      node.status({ fill, shape, text: simulated ? simulated.tag(t(key)) : t(key) });
    };

    if (!config.url) {
      node.status({ fill: "red", shape: "ring", text: t("status.no-url") });
      node.error(t("errors.no-url"));
      return;
    }
    const pathProblem = webhookPathProblem(path);
    if (pathProblem) {
      // A path no request can ever match: refused here, with what is wrong, rather than a silent 404.
      node.status({ fill: "red", shape: "ring", text: t(`status.${pathProblem.status}`, pathProblem.params) });
      node.error(t(`errors.${pathProblem.error}`, pathProblem.params));
      return;
    }
    const adminPath = adminPathOf(RED, path);
    if (adminPath) {
      // The editor's admin app comes first on a shared root: a route here could lock users out of it.
      node.status({ fill: "red", shape: "ring", text: t("status.admin-path") });
      node.error(t("errors.admin-path", { path, admin: adminPath }));
      return;
    }
    const secretProblem = channel?.secretProblem();
    if (!channel || secretProblem) {
      // What the channel lacks, in the words of the send nodes' status: "channel: no secret".
      const text = (secretProblem && channelProblemText(RED)(secretProblem)) ?? t("status.no-channel");
      shown = text;
      node.status({ fill: "red", shape: "ring", text });
      node.error(secretProblem ? t("errors.channel-problem", { problem: describeError(secretProblem, clientErrorTranslator(RED)) }) : t("errors.no-channel"));
    }
    // On a simulated channel this webhook is where the simulated agent answers.
    const detachAgent = channel && attachSimulatedWebhook(RED, node, channel, path);
    if (replyTimeout > 10_000) node.warn(t("errors.reply-timeout-long", { ms: replyTimeout }));
    if (simulated && shown === "") node.status({ fill: "grey", shape: "ring", text: simulated.idle });

    const storeEvents = {
      onReady: () => {
        if (shown === "status.store-error") show("green", "ring", "status.store-ok");
      },
      onError: (err: Error) => {
        show("red", "ring", "status.store-error");
        const message = scrubbed(err.message, redisUrl);
        storeError ??= warnRate(t("errors.store-error", { message }), (count, seconds) => t("errors.store-errors", { count, seconds }));
        storeError.hit();
      },
    };
    const store = webhookDedupeStore(
      node.context(),
      {
        dedupeStore: config.dedupeStore,
        contextStore: config.contextStore,
        remember,
        redisUrl,
        channelId: channel?.channelId ?? "",
        path: path.replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1"),
        commandTimeoutMs: Math.min(2000, replyTimeout),
      },
      storeEvents,
    );
    if ("invalid" in store) {
      show("red", "ring", store.status);
      node.error(t("errors.redis-url"));
    }
    const deliveries =
      "invalid" in store
        ? undefined
        : new WebhookDeliveries({
            store,
            replyTimeoutMs: replyTimeout,
            remember,
            emit: (payload, traceId, handle) => {
              show("green", "dot", "status.received");
              node.send({ _msgid: RED.util.generateId(), payload, traceId, _webhook: { id: handle } } as never);
            },
            onStoreError: storeEvents.onError,
            onStoreOk: storeEvents.onReady,
            onAnswerNotKept: (err) => {
              answersNotKept ??= warnRate(t("errors.answer-not-kept", { message: scrubbed(err.message, redisUrl) }), (count, seconds) => t("errors.answers-not-kept", { count, seconds }));
              answersNotKept.hit();
            },
            onReplyTimeout: () => {
              lateReplies.hit();
              show("yellow", "ring", "status.reply-timeout");
            },
            onGiveBack: () => node.warn(t("errors.gave-back", { ms: replyTimeout * GIVE_BACK_FACTOR })),
          });

    const handler = Object.assign(
      (req: CapturedRequest, res: ServerResponse): void => {
        receive(req, res).catch((err: unknown) => handler.failed(err, res));
      },
      {
        failed: (err: unknown, res: ServerResponse): void => {
          node.error(t("errors.receive-failed", { message: (err as Error).message }));
          writeJson(res, 500, refusal(500));
        },
      },
    );

    async function receive(req: CapturedRequest, res: ServerResponse): Promise<void> {
      if (secrets.length === 0 || !deliveries) return writeJson(res, 503, refusal(503));
      const raw = await rawBodyOf(req, limit, replyTimeout);
      if (raw === "too-large" || raw === "timeout") {
        // A body past the limit, or one that trickles in: answered, and the connection closed.
        res.setHeader("Connection", "close");
        if (raw === "timeout") res.on("finish", () => req.socket.destroy());
        return raw === "timeout" ? writeJson(res, 408, { error: "Request Timeout" }) : writeJson(res, 413, refusal(413));
      }
      if (raw === "aborted") {
        // The client went away: there is nobody to answer.
        abortedBodies.hit();
        return void req.socket.destroy();
      }
      if (raw === "consumed") {
        consumedBodies.hit();
        return writeJson(res, 500, refusal(500));
      }
      const verdict = inspectDelivery(raw, req.headers, secrets);
      if (!verdict.accepted) {
        if (verdict.status === 401) {
          badSignatures.hit();
          show("red", "ring", "status.refused-signature");
        }
        return writeJson(res, verdict.status, refusal(verdict.status));
      }
      deliveries.receive(verdict.key, verdict.payload, verdict.traceId, (status, body) => writeJson(res, status, body));
    }

    // Registered on RED.httpNode like the core http in node's route: Express decides what reaches it.
    const other = t("errors.other-route");
    const named = (route: OtherRoute | "this"): string => (route === "this" ? t("errors.this-webhook") : describeOwner(route.owner, other));
    const onPath = (route: OtherRoute | "this"): string => (route === "this" ? named(route) : t("errors.route-on-path", { route: named(route), path: route.path }));
    const mounted = mountWebhookRoute(RED, node, {
      path,
      handler,
      warn: (err) => node.warn(t("errors.route-failed", { message: err instanceof Error ? err.message : String(err) })),
      shared: (report) => {
        if (report?.same.length) node.warn(t("errors.shared-path", { path, others: report.same.map(named).join(", "), answers: named(report.answers) }));
        if (report?.overlapping.length) node.warn(t("errors.overlapping-path", { path, others: report.overlapping.map(onPath).join(", "), order: report.order.map(onPath).join(", ") }));
        // A route registered before this one on the same path takes every request: say so on the node.
        if (report && report.answers !== "this") show("yellow", "ring", "status.path-shared");
        else if (shown === "status.path-shared") {
          shown = "";
          node.status(simulated ? { fill: "grey", shape: "ring", text: simulated.idle } : {});
        }
      },
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      detachAgent?.();
      mounted?.unmount();
      badSignatures.flush();
      consumedBodies.flush();
      abortedBodies.flush();
      lateReplies.flush();
      storeError?.flush();
      answersNotKept?.flush();
      node.status({});
      // Requests still waiting are asked to come again; what the flow has is given back.
      const closing = deliveries?.close().catch((err: unknown) => node.warn(t("errors.answer-not-kept", { message: scrubbed((err as Error).message, redisUrl) })));
      const bound = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_BOUND_MS).unref());
      void Promise.race([closing, bound]).then(() => done());
    });
  }

  RED.nodes.registerType("genesys-nexus-webhook", guardedConstructor(RED, GenesysNexusWebhook as never) as never, {
    credentials: { redisUrl: { type: "text" } },
  });
};
