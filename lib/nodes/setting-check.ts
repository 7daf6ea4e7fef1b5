import type { NodeAPI } from "node-red";
import { channelTranslator, type Translate } from "./i18n";

/** A node's setting as read from a flow file: the editor writes text, a hand-made flow anything. */
type Raw = unknown;

/** Empty settings mean "the default" and are never warned about. */
function unset(value: Raw): boolean {
  return value === undefined || value === null || (typeof value === "string" && value.trim() === "");
}

/** A setting's value as a log line shows it: short, and quoted as the flow file holds it. */
function shown(value: Raw): string {
  let text: string;
  try {
    text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/**
 * Reads a node's settings from a flow file and warns once, at deploy, for each one it cannot use, naming
 * the setting, the value and the default used instead. It never throws: a flow file deployed through
 * `POST /flows` (or edited by hand) may hold anything, and a node constructor must not throw.
 */
export class SettingReader {
  private readonly t: Translate;

  constructor(
    RED: NodeAPI,
    private readonly node: { warn(text: string): void },
  ) {
    this.t = channelTranslator(RED);
  }

  /**
   * A number setting: `min` or more (`above`: more than `min`), else `fallback` with a warning. Empty is
   * the fallback without a word. `fallbackText` names the default when it is not a plain number.
   */
  number(name: string, value: Raw, rule: { min: number; above?: boolean; fallback: number; fallbackText?: string }): number {
    if (unset(value)) return rule.fallback;
    const n = typeof value === "number" ? value : typeof value === "string" ? Number(value.trim()) : NaN;
    if (Number.isFinite(n) && (rule.above ? n > rule.min : n >= rule.min)) return n;
    const must = this.t(rule.above ? "setting.above" : "setting.min", { min: rule.min });
    this.node.warn(this.t("setting.bad", { name, value: shown(value), must, fallback: rule.fallbackText ?? rule.fallback }));
    return rule.fallback;
  }

  /** One of `allowed` (as written, or trimmed and lower case when `loose`), else `fallback` with a warning. */
  choice<T extends string>(name: string, value: Raw, allowed: readonly T[], fallback: T, loose = false): T {
    if (unset(value)) return fallback;
    const key = typeof value === "string" ? (loose ? value.trim().toLowerCase() : value) : undefined;
    const found = allowed.find((a) => a === key);
    if (found) return found;
    const must = this.t("setting.one-of", { allowed: allowed.join(", ") });
    this.node.warn(this.t("setting.bad", { name, value: shown(value), must, fallback }));
    return fallback;
  }
}
