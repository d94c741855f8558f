// The node's HTTP endpoint, as configured: `createNode({ http: { host, port } })` or `hway start --http
// HOST:PORT`. Kept apart from server.ts: NodeOptions refers to these types, and neither the package's
// public declarations nor a node without the endpoint should load fastify or prom-client.
import { HwayError } from '../../errors.js';

/**
 * Off unless given. /metrics, /healthz and /readyz have no auth, which is acceptable only because the
 * default host is loopback: `host: '0.0.0.0'` (or any routable address) shows them to the network.
 * They carry no secret, no vault id and no account; labels are task types, outcome codes, priorities.
 */
export interface HttpOptions {
  /** Address to listen on. Default 127.0.0.1 (loopback only). */
  host?: string;
  /** TCP port; 0 picks a free one (the bound address is in `node.stats().http.url`). */
  port: number;
  /**
   * How long /readyz waits for Redis's PONG before it answers REDIS_UNREACHABLE. Default 500 ms: under
   * the 1 s an orchestrator's probe usually allows in all. Raise it where the probe allows more.
   */
  readyPingMs?: number;
  /**
   * How long a /metrics scrape waits for each of its reads (Redis, the vault supervisor's counts) before
   * it shows the last values it had. Default 2000 ms.
   */
  scrapeReadMs?: number;
}

export const DEFAULT_HTTP_HOST = '127.0.0.1';
/** How long /readyz waits for PONG (`readyPingMs`): below the 1 s an orchestrator's probe usually allows in all. */
export const DEFAULT_READY_PING_MS = 500;
/** A scrape's Redis reads and the vault supervisor's answer give up after this (`scrapeReadMs`; the scrape then shows the last values). */
export const DEFAULT_SCRAPE_READ_MS = 2000;

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT` (the --http flag and HWAY_HTTP); a missing host
 * is loopback. E_BAD_INPUT (permanent) when it is none of these.
 */
export function parseHttpAddress(text: string): { host: string; port: number } {
  const s = text.trim();
  const m = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]*)):)?(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port < 65536)) {
    throw new HwayError('E_BAD_INPUT', `bad HTTP address "${text}": expected HOST:PORT (e.g. 127.0.0.1:9464; port 0 picks a free one)`, { permanent: true });
  }
  const host = m[1] ?? (m[2] || DEFAULT_HTTP_HOST);
  return { host, port };
}

/** E_BAD_INPUT (permanent) unless each bound that is given is a positive number of milliseconds. */
export function checkHttpBounds(opts: Pick<HttpOptions, 'readyPingMs' | 'scrapeReadMs'>): void {
  for (const name of ['readyPingMs', 'scrapeReadMs'] as const) {
    const v = opts[name];
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
      throw new HwayError('E_BAD_INPUT', `http.${name} must be a positive number of milliseconds, got ${String(v)}`, { permanent: true });
    }
  }
}

/** The URL of a bound address (IPv6 in brackets). */
export function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
