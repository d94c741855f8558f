// The node's HTTP endpoint (fastify): /metrics (Prometheus text format), /healthz (the process is alive)
// and /readyz (200 when ready, else 503 with the reasons; see health.ts); the cluster page at /
// (page/), the vault operations under /v1 with /openapi.json (rest/), and sophon-gateway's JSON-RPC
// at /rpc/v0 (rpc/).
//
// No auth on the first three: they show counts and states, never a secret, vault id, address or
// account, and the endpoint listens on loopback unless told otherwise. Listening on another address
// (`--http 0.0.0.0:PORT`) shows them to whoever reaches it; the node says so in its log. Everything
// else takes the whole credential as a bearer (bearer.ts): admin for the page's data, the task's
// permission for /v1 and /rpc/v0.
//
// The node opens it at the beginning of start(), so that an orchestrator sees the process alive and not
// ready (NOT_STARTED, ENCLAVE_NOT_LOADED) while it starts, and closes it at the end of stop(), so that a
// draining node answers STOPPING and can still be scraped.
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { HwayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { TaskObserver } from '../ingress/executor.js';
import { NodeMetrics } from './metrics.js';
import { restApi } from './rest/plugin.js';
import { clusterPage } from './page/routes.js';
import { rpcRoutes } from './rpc/routes.js';
import { checkHttpBounds, DEFAULT_HTTP_HOST, httpUrl, type HttpOptions } from './options.js';
import type { NodeView } from './view.js';

export interface HttpEndpoint {
  /** Where it listens, e.g. http://127.0.0.1:9464 (the port the system gave for port 0). */
  readonly url: string;
  /** For the ingress executor: per-task counts and latencies. */
  readonly observeTask: TaskObserver;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

export async function openHttpEndpoint(opts: HttpOptions, view: NodeView, log: Logger): Promise<HttpEndpoint> {
  const host = opts.host ?? DEFAULT_HTTP_HOST;
  checkHttpBounds(opts);
  const metrics = new NodeMetrics(view, opts);
  // Closing must not wait for a scraper's keep-alive connection.
  const app = Fastify({ logger: false, forceCloseConnections: true });

  app.get('/healthz', async (_req, reply) => {
    void reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });

  app.get('/readyz', async (_req, reply) => {
    const r = await metrics.readiness();
    void reply.header('cache-control', 'no-store').code(r.ready ? 200 : 503);
    return r.ready ? { status: 'ok' } : { status: 'unavailable', reasons: r.reasons };
  });

  app.get('/metrics', async (_req, reply) => {
    const body = await metrics.render();
    void reply.header('content-type', metrics.contentType).header('cache-control', 'no-store');
    return body;
  });

  // The vault operations as JSON routes under /v1 and their OpenAPI document at /openapi.json
  // (rest/plugin.ts: bearer auth, its own encapsulated context).
  await app.register(restApi, { view, log: log.child({ component: 'rest' }) });
  // The live cluster page at / with its assets and admin-only data under /cluster/ (page/routes.ts).
  await app.register(clusterPage, { view, log: log.child({ component: 'page' }) });
  // sophon-gateway's JSON-RPC API at /rpc/v0, HTTP POST and WebSocket (rpc/routes.ts: bearer auth, its own context).
  await app.register(rpcRoutes, { view, log: log.child({ component: 'rpc' }) });

  try {
    await app.listen({ host, port: opts.port });
  } catch (e) {
    await app.close().catch(() => undefined);
    throw new HwayError('E_BAD_INPUT', `the HTTP endpoint cannot listen on ${httpUrl(host, opts.port)}: ${e instanceof Error ? e.message : String(e)}`, { permanent: true, cause: e });
  }
  const url = httpUrl(host, (app.server.address() as AddressInfo).port);
  log.info('http endpoint listening', { url, paths: ['/metrics', '/healthz', '/readyz', '/', '/v1', '/openapi.json', '/rpc/v0'] });
  if (!LOOPBACK.test(host)) log.warn('http endpoint is not on loopback: /metrics, /healthz and /readyz answer anyone who reaches it, without auth (the rest needs a credential)', { url });

  return {
    url,
    observeTask: metrics.observeTask,
    close: async () => {
      await app.close();
      log.info('http endpoint closed', { url });
    },
  };
}
