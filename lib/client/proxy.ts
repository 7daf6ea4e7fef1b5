import { HttpProxyAgent, HttpsProxyAgent } from "hpagent";
import type http from "http";
import type https from "https";
// proxy-from-env reads HTTPS_PROXY, HTTP_PROXY and NO_PROXY the way curl and most tools do.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { getProxyForUrl } = require("proxy-from-env") as { getProxyForUrl(url: string): string };

/** A forward proxy set in the channel (Node-RED's `http proxy` config node). */
export interface ProxyOptions {
  url: string;
  /** Hosts reached directly: exact names, `.suffix` or `*.suffix`. */
  noProxy?: string[];
  username?: string;
  password?: string;
}

function bypassed(host: string, noProxy: string[] | undefined): boolean {
  return (noProxy ?? []).some((entry) => {
    const rule = entry.trim().toLowerCase().replace(/^\*/, "");
    if (!rule) return false;
    return rule.startsWith(".") ? host.endsWith(rule) || host === rule.slice(1) : host === rule;
  });
}

/**
 * The proxy URL for a target: the channel's proxy unless the host is in its no-proxy list; without one,
 * the environment's HTTPS_PROXY/HTTP_PROXY unless NO_PROXY says otherwise; `false` means go direct.
 */
export function proxyUrlFor(target: URL, configured: ProxyOptions | false | undefined): string | undefined {
  if (configured === false) return undefined;
  if (configured?.url) {
    if (bypassed(target.hostname.toLowerCase(), configured.noProxy)) return undefined;
    const url = new URL(configured.url);
    if (configured.username) {
      url.username = encodeURIComponent(configured.username);
      url.password = encodeURIComponent(configured.password ?? "");
    }
    return url.toString();
  }
  return getProxyForUrl(target.toString()) || undefined;
}

/** A keep-alive agent that tunnels through the proxy (CONNECT), carrying the channel's TLS settings. */
export function proxyAgent(target: URL, proxy: string, options: https.AgentOptions): http.Agent {
  return target.protocol === "https:" ? new HttpsProxyAgent({ ...options, proxy }) : new HttpProxyAgent({ ...options, proxy });
}
