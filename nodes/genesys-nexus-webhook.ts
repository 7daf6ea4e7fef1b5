import { randomUUID } from "crypto";
import type { ServerResponse } from "http";
import type { Node, NodeAPI, NodeDef } from "node-red";
import { inspectDelivery, REFUSAL_BODIES } from "../lib/webhook/delivery";
import { AnsweredMemory } from "../lib/nodes/answered-memory";
import type { ChannelConfigNode } from "../lib/nodes/api-node";
import { translator } from "../lib/nodes/i18n";
import { writeJson } from "../lib/http/write-json";
import { pendingReplies, type PendingReply } from "../lib/nodes/pending-replies";
import { RateLog } from "../lib/nodes/rate-log";
import { normalizePath, rawBodyOf, rawBodyRoutes, routerStack, type CapturedRequest } from "../lib/nodes/raw-body-capture";
import english from "./locales/en-US/genesys-nexus-webhook.json";

interface WebhookDef extends NodeDef {
  channel: string;
  url: string;
  replyTimeout?: number | string;
  contextStore?: string;
  remember?: number | string;
  maxBodyBytes?: number | string;
}

function numberOr(value: unknown, fallback: number): number {
  const n = Number(value);
  return value !== "" && value !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** `genesys-nexus-webhook`: receives agent messages that Genesys POSTs, verified, once each. */
export = function (RED: NodeAPI): void {
  const t = translator(RED, "genesys-nexus-webhook", english);
  const routes = rawBodyRoutes(RED);

  function GenesysNexusWebhook(this: Node, config: WebhookDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const channel = RED.nodes.getNode(config.channel) as ChannelConfigNode | null;
    const secret = channel?.signingSecret();
    const path = config.url ? normalizePath(config.url) : "";
    const replyTimeout = numberOr(config.replyTimeout, 8000);
    const limit = numberOr(config.maxBodyBytes, 1024 * 1024);
    const memory = new AnsweredMemory(node.context(), config.contextStore || undefined, numberOr(config.remember, 1000));
    const waiting = new Map<string, PendingReply>();
    const badSignatures = new RateLog(
      (line) => node.warn(line),
      t("errors.bad-signature"),
      (count, seconds) => t("errors.bad-signatures", { count, seconds }),
    );

    // The status changes only when it differs from the one shown: never once per delivery under load.
    let shown = "";
    const show = (fill: "red" | "green", shape: "ring" | "dot", key: string): void => {
      if (shown === key) return;
      shown = key;
      node.status({ fill, shape, text: t(key) });
    };

    if (!config.url) {
      node.status({ fill: "red", shape: "ring", text: t("status.no-url") });
      node.error(t("errors.no-url"));
      return;
    }
    if (!channel || !secret) {
      show("red", "ring", "status.no-channel");
      node.error(t("errors.no-channel"));
    }

    const handler = (req: CapturedRequest, res: ServerResponse): void => {
      receive(req, res).catch((err: unknown) => {
        node.error(t("errors.receive-failed", { message: (err as Error).message }));
        writeJson(res, 500, REFUSAL_BODIES[500]);
      });
    };

    async function receive(req: CapturedRequest, res: ServerResponse): Promise<void> {
      if (!secret) return writeJson(res, 503, REFUSAL_BODIES[503]);
      const raw = await rawBodyOf(req, limit);
      if (raw === "too-large") {
        res.setHeader("Connection", "close");
        return writeJson(res, 413, REFUSAL_BODIES[413]);
      }
      if (raw === undefined) {
        node.error(t("errors.body-consumed"));
        return writeJson(res, 500, REFUSAL_BODIES[500]);
      }
      const verdict = inspectDelivery(raw, req.headers, secret);
      if (!verdict.accepted) {
        if (verdict.status === 401) {
          badSignatures.hit();
          show("red", "ring", "status.refused-signature");
        }
        return writeJson(res, verdict.status, REFUSAL_BODIES[verdict.status]);
      }
      // A redelivery of a message being answered right now waits for that answer.
      const inFlight = waiting.get(verdict.key);
      if (inFlight) {
        inFlight.responses.push(res);
        return;
      }
      const answered = await memory.recall(verdict.key);
      if (answered !== undefined) return writeJson(res, 200, { messageId: answered });
      emit(verdict.payload, verdict.traceId, verdict.key, res);
    }

    function emit(payload: unknown, traceId: string, key: string, res: ServerResponse): void {
      const id = randomUUID();
      let done = false;
      const reply: PendingReply = {
        id,
        key,
        responses: [res],
        answer(status, body) {
          if (done) return;
          done = true;
          clearTimeout(timer);
          waiting.delete(key);
          pendingReplies.take(id);
          for (const r of reply.responses) writeJson(r, status, body);
        },
        remember(messageId) {
          memory.remember(key, messageId).catch((err: unknown) => node.warn(t("errors.remember-failed", { message: (err as Error).message })));
        },
      };
      // No answer in time: 503, so Genesys delivers again.
      const timer = setTimeout(() => {
        node.warn(t("errors.reply-timeout", { ms: replyTimeout }));
        reply.answer(503, REFUSAL_BODIES[503]);
      }, replyTimeout);
      waiting.set(key, reply);
      pendingReplies.add(reply);
      show("green", "dot", "status.received");
      node.send({ _msgid: RED.util.generateId(), payload, traceId, _webhook: { id } } as never);
    }

    routes.add(path, limit);
    RED.httpNode.post(path, handler as never);

    node.on("close", (_removed: boolean, done: () => void) => {
      routes.delete(path);
      const stack = routerStack(RED.httpNode as never);
      if (stack) {
        for (let i = stack.length - 1; i >= 0; i--) {
          if (stack[i].route?.stack?.some((layer) => layer.handle === handler)) stack.splice(i, 1);
        }
      }
      // Requests still waiting are asked to come again.
      for (const reply of [...waiting.values()]) reply.answer(503, REFUSAL_BODIES[503]);
      badSignatures.flush();
      node.status({});
      done();
    });
  }

  RED.nodes.registerType("genesys-nexus-webhook", GenesysNexusWebhook);
};
