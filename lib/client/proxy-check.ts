import { NexusInputError } from "./errors";
import { bypassesProxy, type ProxyOptions } from "./transport";

/** A proxy URL as it may be shown: whatever stands before an "@" (a user name and password) hidden. */
function shownProxyUrl(text: string): string {
  const shown = text.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^]*@/i, "$1***@");
  return shown.length > 200 ? `${shown.slice(0, 200)}...` : shown;
}

/** Whether undici's ProxyAgent can use a proxy URL: http(s), and a user name and password it can decode. */
function usableProxyUrl(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  try {
    // undici's ProxyAgent decodes both for its Proxy-Authorization header: a raw "%" throws URIError there.
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    return false;
  }
  return true;
}

/**
 * Checks, without connecting, the proxy a channel would use for `target`: the channel's `http proxy` node
 * or, without one, the environment variable (HTTPS_PROXY/HTTP_PROXY, lower case first, as undici's
 * EnvHttpProxyAgent reads them; a host in the no-proxy list needs none). A URL that does not parse, is not
 * http(s), or holds a user name or password with a raw `%` (RFC 3986 section 2.1: `%` starts a
 * percent-encoding, so it is written `%25`) is refused with a NexusInputError naming the setting
 * (`config-proxy-url`, or `config-proxy-env` with the variable's name); the password is never shown.
 */
export function checkProxy(target: URL, configured: ProxyOptions | false | undefined, env: NodeJS.ProcessEnv = process.env): void {
  if (configured === false) return;
  if (configured?.url) {
    if (bypassesProxy(target, configured.noProxy ?? [])) return;
    if (!usableProxyUrl(configured.url)) throw new NexusInputError("config-proxy-url", { url: shownProxyUrl(configured.url) });
    return;
  }
  const names = target.protocol === "https:" ? ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"] : ["http_proxy", "HTTP_PROXY"];
  const name = names.find((n) => env[n] !== undefined);
  const value = name ? env[name] : undefined;
  if (!name || !value || bypassesProxy(target, env.no_proxy ?? env.NO_PROXY ?? "")) return;
  if (!usableProxyUrl(value)) throw new NexusInputError("config-proxy-env", { name, url: shownProxyUrl(value) });
}
