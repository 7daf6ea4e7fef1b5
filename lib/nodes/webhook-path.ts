import { unsetEnvVar } from "../client";

/** Why a webhook path can never be matched: the webhook catalog's `status.<status>` and `errors.<error>`. */
export interface PathProblem {
  status: string;
  error: string;
  params: Record<string, string>;
}

/**
 * Why a webhook's URL path can never receive a request, or undefined when it can. Express (as Node-RED sets
 * it up, like the core `http in` node) matches a route against the request's raw path, so:
 * - `${NAME}` still in the path is an environment variable that is not set (Node-RED puts the value in its
 *   place when it is set), or one inside a longer path, where Node-RED never puts it;
 * - a query (`?y=1`) or a fragment (`#y`) is not part of a path (RFC 3986 section 3): a query arrives after
 *   the path and is not matched, a fragment is never sent. A `?` right after a route parameter
 *   (`/:id?`, Express's optional parameter) is kept;
 * - a space, another control or white-space character, or a character outside ASCII arrives
 *   percent-encoded (`/ü` as `/%C3%BC`), so the path must be written that way; the error gives the
 *   encoded form.
 */
export function webhookPathProblem(path: string): PathProblem | undefined {
  const name = unsetEnvVar(path);
  if (name) {
    // Node-RED puts a variable's value only into a setting that is `${NAME}` and nothing else.
    const whole = /^\/?\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(path);
    return whole ? { status: "env-unset", error: "env-unset", params: { name } } : { status: "env-embedded", error: "env-embedded", params: { name, path: path.length > 200 ? `${path.slice(0, 200)}...` : path } };
  }
  const shown = path.length > 200 ? `${path.slice(0, 200)}...` : path;
  if (path.includes("#")) return { status: "path-fragment", error: "path-fragment", params: { path: shown } };
  if (/\?/.test(path.replace(/(:\w+|\))\?(?=[/.]|$)/g, "$1"))) return { status: "path-query", error: "path-query", params: { path: shown } };
  if (/[^\x21-\x7e]/.test(path)) {
    const encoded = path.replace(/[^\x21-\x7e]+/gu, (run) => {
      try {
        return encodeURIComponent(run);
      } catch {
        return "?"; // a lone surrogate, which no URL can carry
      }
    });
    return { status: "path-encode", error: "path-encode", params: { path: shown, encoded } };
  }
  return undefined;
}
