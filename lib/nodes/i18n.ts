import type { NodeAPI } from "node-red";
import channelEnglish from "../../nodes/locales/en-US/genesys-nexus-channel.json";
import type { Translate as ClientTranslate } from "../client/errors";

export type Params = Record<string, string | number | undefined>;
export type Translate = (key: string, params?: Params) => string;

/** The npm package name: Node-RED namespaces each node file's messages as `<package>/<file>`. */
export const PACKAGE_NAME = "@flowbridge/node-red-genesys-messaging";

function lookup(catalog: unknown, key: string): string | undefined {
  let at: unknown = catalog;
  for (const part of key.split(".")) {
    if (typeof at !== "object" || at === null) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return typeof at === "string" ? at : undefined;
}

function interpolate(text: string, params: Params | undefined): string {
  return params ? text.replace(/__(\w+)__/g, (all, name: string) => (params[name] === undefined ? all : String(params[name]))) : text;
}

/**
 * Messages of one node file (its `locales/<lang>/<file>.json`) in the runtime's language. Where the runtime
 * has not loaded the catalog (a bare test runtime), the en-US catalog that ships with the file answers.
 */
export function translator(RED: NodeAPI, file: string, english: unknown): Translate {
  const namespace = `${PACKAGE_NAME}/${file}`;
  return (key, params) => {
    const full = `${namespace}:${key}`;
    let text: string | undefined;
    try {
      text = (RED as unknown as { _: (k: string, p?: Params) => string })._(full, params);
    } catch {
      text = undefined;
    }
    if (typeof text === "string" && text !== full && text !== key) return text;
    return interpolate(lookup(english, key) ?? key, params);
  };
}

/** The channel node's catalog, which holds the texts every flow node shares. */
export function channelTranslator(RED: NodeAPI): Translate {
  return translator(RED, "genesys-nexus-channel", channelEnglish);
}

/**
 * The client's error sentences in the runtime's language. They live in the channel node's catalog under
 * `errors.<code>`, whose English is the client's own (messages.json; a test keeps the two the same).
 */
export function clientErrorTranslator(RED: NodeAPI, simulated = false): ClientTranslate {
  const t = channelTranslator(RED);
  if (!simulated) return (code, params) => t(`errors.${code}`, params);
  // On a simulated channel the answers come from the simulator: the sentences that name who answered say so.
  return (code, params) => (SIMULATED_CODES.has(code) ? t(`simulator.errors.${code}`, params) : t(`errors.${code}`, params));
}

/** Client sentences worded otherwise on a simulated channel (`simulator.errors.*` in the channel's catalog). */
const SIMULATED_CODES: ReadonlySet<string> = new Set(["http", "http-detail"]);
