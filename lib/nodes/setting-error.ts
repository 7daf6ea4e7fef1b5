import type { NodeAPI } from "node-red";
import { channelTranslator } from "./i18n";

/** A setting's value as it may be shown in an error: quoted, and not endless. */
function shownValue(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value);
}

/**
 * What went wrong, from whatever `RED.util.evaluateNodeProperty` threw or called back with: a JSONata
 * error is a plain object `{ code, position, token, message }` (jsonata's own, not an Error), a bad JSON
 * value a SyntaxError; its code and position are kept ("S0202 at 5").
 */
function reasonOf(err: unknown): string {
  const e = (typeof err === "object" && err !== null ? err : {}) as { message?: unknown; code?: unknown; position?: unknown };
  const message = typeof e.message === "string" && e.message !== "" ? e.message : typeof err === "string" ? err : "";
  const where = [typeof e.code === "string" ? e.code : "", typeof e.position === "number" ? `at ${e.position}` : ""].filter((p) => p !== "").join(" ");
  const text = message || where || String(err);
  return where && message ? `${text} (${where})` : text;
}

/**
 * The error for a typed-input setting that cannot be read for a message: a sentence (in the runtime's
 * language) that names the setting as the dialog labels it and says what is wrong with its value, never
 * "[object Object]". `setting` is the label (Message, Media id, Save to file); `type` the typed input's
 * type (jsonata, json, msg...). Keys `setting.*` of the channel's catalog.
 */
export function settingError(RED: NodeAPI, setting: string, type: string, value: string, err: unknown): Error {
  const t = channelTranslator(RED);
  const reason = reasonOf(err);
  const key = type === "jsonata" ? "setting.expression" : type === "json" || type === "bin" ? "setting.json" : "setting.other";
  const wrapped = new Error(t(key, { setting, value: shownValue(value), type, reason }));
  (wrapped as { cause?: unknown }).cause = err;
  return wrapped;
}
