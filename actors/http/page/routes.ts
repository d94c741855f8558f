// The live cluster page of the node's HTTP endpoint:
//   GET  /                                    the page (HTML; no data, no auth)
//   GET  /cluster/page.js, page.css, favicon.svg   its script, style and icon (files in ./assets; no data, no auth)
//   GET  /cluster/events                      the cluster view as server-sent events (admin)
//   POST /cluster/dead-letters/:id/requeue    requeue a dead letter (admin)
//
// Auth: the bearer is an admin credential (bearer.ts), sent in the Authorization header, never in a URL
// or a cookie. EventSource cannot send headers, so the page reads the event stream with fetch() and
// parses it itself (page.js). Why not a session cookie: the token stays in the page's memory only (a
// reload asks again), the server keeps no session state, and with no ambient credential a cross-site
// request carries nothing (no CSRF surface: every data route needs the header, which another origin
// cannot set without a CORS preflight that this endpoint never grants). The stream re-checks the token
// before every event, so a revoked or expired token stops it within a second (a check that cannot be
// made, Redis being away, withholds that one event and says why).
// With auth off (insecure) the data routes refuse (401): they would otherwise show the cluster, and
// requeue its tasks, for anyone who reaches the port.
//
// Hardening: a strict CSP (no inline script or style, nothing from another origin, no framing, no form
// posts), nosniff, no referrer. Everything shown comes from Redis (untrusted): page.js writes it as
// text (textContent), never as markup.
//
// Encapsulated (a plain fastify plugin): its hooks and error handler apply to these routes only.
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { codeOf, HwayError } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import { requeueDeadLetter } from '../../ingress/deadletters.js';
import { readClusterView } from '../../inspect/cluster-view.js';
import { within } from '../../within.js';
import { authenticateBearer, authStatus, type BearerIdentity } from '../bearer.js';
import type { NodeView } from '../view.js';
import { LiveFeed, type FeedEvent } from './live-feed.js';

export interface PageOptions {
  view: NodeView;
  log: Logger;
}

/** The paths this plugin serves, for the endpoint's log line. */
export const PAGE_PATHS = ['/', '/cluster/…'];

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const ASSETS: Array<{ path: string; file: string; type: string }> = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/cluster/page.js', file: 'page.js', type: 'text/javascript; charset=utf-8' },
  { path: '/cluster/page.css', file: 'page.css', type: 'text/css; charset=utf-8' },
  { path: '/cluster/favicon.svg', file: 'favicon.svg', type: 'image/svg+xml' },
];

/** Dead letters listed on the page (the count covers all). */
const DEAD_LETTERS_SHOWN = 50;
/** A read of the whole cluster view gives up after this (the feed says so and tries again). */
const READ_MS = 5000;
const REQUEUE_MS = 10_000;
const TASK_ID = /^[\x21-\x7e]{1,200}$/;

interface Refusal {
  status: number;
  code: string;
  message: string;
}

function refusalOf(e: unknown): Refusal {
  const status = authStatus(e);
  if (status !== undefined && e instanceof HwayError) return { status, code: e.code, message: e.message };
  if (e instanceof HwayError) return { status: e.code === 'E_NOT_FOUND' ? 404 : e.code === 'E_BAD_INPUT' ? 400 : 503, code: e.code, message: e.message };
  return { status: 500, code: 'E_INTERNAL', message: 'internal error' };
}

export async function clusterPage(app: FastifyInstance, opts: PageOptions): Promise<void> {
  const { view, log } = opts;
  const where = { redis: view.redis, prefix: view.prefix, partitions: view.partitions };
  const feed = new LiveFeed(() => readClusterView(view.redis, { ...where, deadLetterLimit: DEAD_LETTERS_SHOWN, ms: READ_MS }), view.nodeId);
  const streams = new Set<() => void>();
  // Open event streams never end by themselves: end them when the endpoint closes.
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
    feed.close();
  });

  app.addHook('onRequest', async (_req, reply) => {
    void reply.headers(PAGE_HEADERS);
  });

  app.setErrorHandler((err, req, reply) => {
    const r = refusalOf(err);
    if (r.status >= 500) log.warn('cluster page request failed', { route: req.routeOptions.url, code: r.code, error: err instanceof Error ? err.message : String(err) });
    if (r.status === 401) void reply.header('www-authenticate', 'Bearer');
    void reply.header('cache-control', 'no-store').code(r.status);
    return { error: { code: r.code, message: r.message } };
  });

  /** The caller, if an admin (else throws E_UNAUTHORIZED / E_FORBIDDEN, answered 401 / 403). */
  const admin = async (req: FastifyRequest): Promise<BearerIdentity> => {
    if (view.insecure) {
      throw new HwayError('E_UNAUTHORIZED', 'auth is off on this node (started insecure, without a token secret): the cluster page shows its data only to an admin token, which cannot be checked here', { permanent: true });
    }
    const tokens = view.tokens();
    if (tokens === undefined) throw new HwayError('E_CLOSED', 'the node is not started: no token can be checked yet');
    return authenticateBearer(req.headers.authorization, tokens, 'admin');
  };

  for (const a of ASSETS) {
    const body = readFileSync(new URL(`./assets/${a.file}`, import.meta.url));
    app.get(a.path, { schema: { hide: true } }, async (_req, reply) => {
      void reply.header('content-type', a.type).header('cache-control', 'no-cache');
      return body;
    });
  }

  app.get('/cluster/events', { schema: { hide: true } }, async (req, reply) => {
    const who = await admin(req);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { ...PAGE_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.write(': the cluster view, every second\n\n');
    log.info('cluster page opened', { account: who.claims.account, jti: who.claims.jti });
    let ended = false;
    const write = (e: FeedEvent | { event: 'auth'; data: { code: string; message: string } }): void => {
      if (!ended) res.write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
    };
    const end = (): void => {
      if (ended) return;
      ended = true;
      unsubscribe();
      streams.delete(end);
      res.end();
    };
    const unsubscribe = feed.subscribe((e) => {
      // A token revoked or expired meanwhile ends the stream (checked before each event; cheap: the
      // signature and the node's in-memory revocation list).
      admin(req).then(
        () => {
          // A viewer that does not keep up misses views rather than buffering them here.
          if (!res.writableNeedDrain) write(e);
        },
        (err: unknown) => {
          const r = refusalOf(err);
          if (authStatus(err) === undefined) {
            // Not a refusal: the check itself failed (Redis away). Fail closed for this event only.
            write({ event: 'problem', data: { code: codeOf(err), message: `the credential could not be checked: ${r.message}` } });
            return;
          }
          write({ event: 'auth', data: { code: r.code, message: r.message } });
          end();
        },
      );
    });
    streams.add(end);
    res.on('close', end);
  });

  app.post<{ Params: { id: string } }>('/cluster/dead-letters/:id/requeue', { schema: { hide: true } }, async (req, reply) => {
    const who = await admin(req);
    const id = req.params.id;
    if (!TASK_ID.test(id)) throw new HwayError('E_BAD_INPUT', 'not a task id', { permanent: true });
    // The same code path as `hway dlq requeue` (actors/ingress/deadletters.ts).
    if (!(await within(requeueDeadLetter(where, id), REQUEUE_MS))) throw new HwayError('E_NOT_FOUND', `${id} is not a dead letter`, { permanent: true });
    log.info('dead letter requeued from the cluster page', { task: id, account: who.claims.account, jti: who.claims.jti });
    void reply.header('cache-control', 'no-store');
    return { id, requeued: true };
  });
}
