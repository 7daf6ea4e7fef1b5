import { Pool, ProxyAgent, type Dispatcher } from "undici";

/**
 * The channel's TLS settings, as a core `tls-config` node gives them (its `addTLSOptions`): a private CA,
 * a client certificate and key (with its passphrase), verification on or off, and an SNI servername.
 */
export interface TlsOptions {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer | Array<string | Buffer>;
  key?: string | Buffer | Array<string | Buffer>;
  passphrase?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
}

/** A forward proxy set in the channel (Node-RED's `http proxy` config node). */
export interface ProxyOptions {
  url: string;
  /** Hosts reached directly; the same rule as `NO_PROXY` (see `bypassesProxy`). */
  noProxy?: string[];
  username?: string;
  password?: string;
}

const DEFAULT_PORTS: Record<string, number> = { "http:": 80, "https:": 443 };

/**
 * Whether a no-proxy list sends `target` direct. One rule for `NO_PROXY` and the proxy node's list, the
 * rule of undici's `EnvHttpProxyAgent` (and of curl): entries are separated by commas or white space;
 * `*` bypasses every host; `example.com`, `.example.com` and `*.example.com` match the domain and every
 * subdomain; `host:port` matches that port only; IP addresses match literally (IPv6 in brackets).
 */
export function bypassesProxy(target: URL, noProxy: string | readonly string[] | undefined): boolean {
  const entries = (Array.isArray(noProxy) ? noProxy.join(",") : String(noProxy ?? "")).split(/[,\s]/).filter((e) => e !== "");
  if (entries.length === 0) return false;
  // URL.host keeps the brackets of an IPv6 address; only the port is cut off.
  const hostname = target.host.replace(/:\d*$/, "").toLowerCase();
  const port = Number.parseInt(target.port, 10) || DEFAULT_PORTS[target.protocol] || 0;
  for (const entry of entries) {
    if (entry === "*") return true;
    const parsed = /^(.+):(\d+)$/.exec(entry);
    const host = (parsed ? parsed[1] : entry).replace(/^\*?\./, "").toLowerCase();
    if (parsed && Number.parseInt(parsed[2], 10) !== port) continue;
    if (hostname === host || hostname.endsWith(`.${host}`)) return true;
  }
  return false;
}

/** The environment's proxy for a target, read as undici's `EnvHttpProxyAgent` reads it (lower case first). */
function environmentProxy(target: URL, env: NodeJS.ProcessEnv): { url: string; noProxy: string } | undefined {
  const httpProxy = env.http_proxy ?? env.HTTP_PROXY;
  const url = target.protocol === "https:" ? (env.https_proxy ?? env.HTTPS_PROXY ?? httpProxy) : httpProxy;
  return url ? { url, noProxy: env.no_proxy ?? env.NO_PROXY ?? "" } : undefined;
}

/**
 * The proxy URL for a target (with the proxy node's credentials in it), or undefined to go direct: the
 * channel's proxy unless its no-proxy list names the host; without one, HTTPS_PROXY/HTTP_PROXY unless
 * NO_PROXY names it; `false` ignores both.
 */
export function proxyUrlFor(target: URL, configured: ProxyOptions | false | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (configured === false) return undefined;
  const chosen = configured?.url ? { url: configured.url, noProxy: configured.noProxy ?? [] } : environmentProxy(target, env);
  if (!chosen || bypassesProxy(target, chosen.noProxy)) return undefined;
  const url = new URL(chosen.url);
  if (configured && configured.url && configured.username) {
    url.username = encodeURIComponent(configured.username);
    url.password = encodeURIComponent(configured.password ?? "");
  }
  return url.toString();
}

/** The connect options undici takes from a tls-config node's settings (no ALPN: undici speaks HTTP/1.1). */
function connectOptions(tls: TlsOptions | undefined, timeoutMs: number): Record<string, unknown> {
  const options: Record<string, unknown> = { timeout: timeoutMs };
  if (!tls) return options;
  for (const key of ["ca", "cert", "key", "passphrase", "rejectUnauthorized", "servername"] as const) {
    if (tls[key] !== undefined && tls[key] !== "") options[key] = tls[key];
  }
  return options;
}

export interface TransportOptions {
  /** Connections to the origin at most: the channel's requests in flight. */
  connections: number;
  /** For https targets; ignored for http. */
  tls?: TlsOptions;
  proxy?: ProxyOptions | false;
  /** Time limit to open a connection (TCP, TLS, and a proxy's CONNECT), in ms. */
  connectTimeoutMs: number;
}

/**
 * A request option of our dispatcher: called when the request has a connection to the origin (TCP, TLS and
 * any proxy tunnel made) and is about to be written. Until then Genesys cannot have the request.
 */
export const ON_CONNECTED = "onConnected";
export type ConnectedRequestOptions = Dispatcher.RequestOptions & { [ON_CONNECTED]?: () => void };

/**
 * Tells a request's `onConnected` when undici starts it on a connection (its `onRequestStart`, undici's
 * old `onConnect`, comes right before the request is written), and forwards everything else unchanged.
 */
const markConnected: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) => {
  const onConnected = (opts as ConnectedRequestOptions)[ON_CONNECTED];
  if (!onConnected) return dispatch(opts, handler);
  const marked: Dispatcher.DispatchHandler = {
    onRequestStart: (controller, context) => {
      onConnected();
      handler.onRequestStart?.(controller, context);
    },
    onRequestUpgrade: (controller, statusCode, headers, socket) => handler.onRequestUpgrade?.(controller, statusCode, headers, socket),
    onResponseStart: (controller, statusCode, headers, statusMessage) => handler.onResponseStart?.(controller, statusCode, headers, statusMessage),
    onResponseData: (controller, chunk) => handler.onResponseData?.(controller, chunk),
    onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
    onResponseError: (controller, err) => handler.onResponseError?.(controller, err),
  };
  return dispatch(opts, marked);
};

/**
 * The channel's one undici dispatcher, for every call it makes: a keep-alive `Pool` to the origin, or a
 * `ProxyAgent` that tunnels (CONNECT) through the proxy, with the channel's TLS settings towards the origin.
 * Idle connections do not keep the process alive (undici unrefs them). `base` is for `dispatch()` with a
 * handler of our own (its `onRequestStart` says the request has a connection); `streaming` is the same
 * dispatcher for `request()` with a streamed answer, where a request may carry `onConnected` (see
 * ON_CONNECTED). An interceptor on every call would cost a third of a send's CPU (wrapping each handler
 * twice and parsing the headers twice), so the common path does without it. Destroying `streaming`
 * destroys `base`.
 */
export function createDispatcher(target: URL, options: TransportOptions): { base: Dispatcher; streaming: Dispatcher } {
  const base = baseDispatcher(target, options);
  return { base, streaming: base.compose(markConnected) };
}

/**
 * The proxy URL without its user information, and the `Proxy-Authorization` (Basic, RFC 7617) it stands
 * for: sent whenever a user name is given, with or without a password (a proxy that takes a token as the
 * user name), where undici's ProxyAgent would send credentials only with both.
 */
function proxyCredentials(proxy: string): { uri: string; token?: string } {
  const url = new URL(proxy);
  if (!url.username) return { uri: proxy };
  const token = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`;
  url.username = "";
  url.password = "";
  return { uri: url.toString(), token };
}

function baseDispatcher(target: URL, options: TransportOptions): Dispatcher {
  const https = target.protocol === "https:";
  const connect = connectOptions(https ? options.tls : undefined, options.connectTimeoutMs);
  const proxy = proxyUrlFor(target, options.proxy);
  if (!proxy) return new Pool(target.origin, { connections: options.connections, connect, headersTimeout: 0, bodyTimeout: 0 });
  return new ProxyAgent({
    ...proxyCredentials(proxy),
    connections: options.connections,
    requestTls: connect,
    // An https:// proxy is verified against the system's CAs (and NODE_EXTRA_CA_CERTS) and is shown no client
    // certificate: the tls-config node's CA, certificate and servername are the API's, as in the core http
    // request node.
    proxyTls: { timeout: options.connectTimeoutMs },
    headersTimeout: 0,
    bodyTimeout: 0,
  });
}
