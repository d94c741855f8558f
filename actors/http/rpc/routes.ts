// /rpc/v0 on the node's HTTP endpoint: sophon-gateway's JSON-RPC API (methods.ts) over HTTP POST and
// over WebSocket (GET with an upgrade), as go-jsonrpc's RPCServer serves both on one path.
//
// Auth: `Authorization: Bearer <credential>`, the whole credential `<jwt>.<request key>` (bearer.ts;
// a bare JWT is refused), checked before the body is read (HTTP) or the socket is upgraded
// (WebSocket: go-jsonrpc clients send their headers on the upgrade request; never a token in the
// URL). Refusals are HTTP 401 / 403 with a JSON-RPC error body (-32001 / -32003). Each call then needs
// its method's permission, and is made with a GatewayClient holding the caller's credential. With
// auth off (an insecure node) every request is refused: this door acts as a caller, so it needs one.
//
// A WebSocket carries many calls at once (up to MAX_IN_FLIGHT), each answered by its id when it
// ends; the credential is checked again for every call, so a revoked token stops working on an
// open socket too. `xrpc.cancel` (go-jsonrpc's cancel notification) is accepted and ignored: a call
// already handed to the gateway runs to its deadline, and its answer is still sent.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type { WebSocket } from 'ws';
import { HwayError, isHwayError } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import { MAX_FRAME } from '../../gateway/frames.js';
import { requirePerm } from '../../gateway/perms.js';
import { authenticateBearer, authStatus, type BearerIdentity } from '../bearer.js';
import type { NodeView } from '../view.js';
import { GatewayClients } from './clients.js';
import { answerText, refuseText, type DispatchContext } from './dispatch.js';
import { errorObject, failure, INVALID_REQUEST, RpcError } from './protocol.js';

export const RPC_PATH = '/rpc/v0';
/** Largest HTTP body or WebSocket message (a WalletSign's toSign is at most 256 KiB, base64 in JSON). */
export const MAX_RPC_BYTES = MAX_FRAME;
/** Calls in flight on one WebSocket; more are answered E_BUSY at once. */
export const MAX_IN_FLIGHT = 64;

export interface RpcRoutesOptions {
  view: NodeView;
  log: Logger;
  /** GatewayClients kept (one per caller credential). Default 32. */
  maxClients?: number;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** The caller of a request with at least `read`, or why not (E_UNAUTHORIZED, E_FORBIDDEN, E_BUSY). */
async function authenticate(view: NodeView, header: string | undefined): Promise<BearerIdentity> {
  if (view.insecure) {
    throw new HwayError('E_UNAUTHORIZED', `auth is off on this node: ${RPC_PATH} acts as the caller and needs a credential, so it refuses every request (start the node with auth)`, { permanent: true });
  }
  const tokens = view.tokens();
  if (tokens === undefined) throw new HwayError('E_BUSY', 'the node is starting: try again shortly');
  return authenticateBearer(header, tokens, 'read');
}

function refuse(reply: FastifyReply, e: unknown): FastifyReply {
  const status = authStatus(e) ?? (isHwayError(e) && e.code === 'E_BUSY' ? 503 : 500);
  return reply.code(status).header('content-type', JSON_TYPE).header('cache-control', 'no-store').send(failure(null, errorObject(e)));
}

/** The fastify plugin: register with `app.register(rpcRoutes, { view, log })`. */
export async function rpcRoutes(scope: FastifyInstance, opts: RpcRoutesOptions): Promise<void> {
  const { view, log } = opts;
  // In this scope only: the WebSocket plugin, and bodies taken as text (parsed here, so that bad
  // JSON is a JSON-RPC parse error rather than fastify's own 400).
  guardUpgrades(scope); // first: its close hook runs before the plugin's
  await scope.register(websocket, { options: { maxPayload: MAX_RPC_BYTES } });
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_RPC_BYTES }, (_req, body, done) => done(null, body));

  const clients = new GatewayClients({ redis: view.redis, prefix: view.prefix, logger: log, ...(opts.maxClients === undefined ? {} : { max: opts.maxClients }) });
  scope.addHook('onClose', async () => clients.close());

  scope.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    if (err.statusCode === 413) {
      return reply.code(413).header('content-type', JSON_TYPE).send(failure(null, errorObject(new RpcError(INVALID_REQUEST, `a request is at most ${MAX_RPC_BYTES} bytes`))));
    }
    log.warn('rpc request failed', { error: err.message });
    return reply.code(500).header('content-type', JSON_TYPE).send(failure(null, errorObject(new HwayError('E_INTERNAL', 'internal error'))));
  });

  // Authenticated before the body is read, and before a WebSocket is upgraded.
  const callers = new WeakMap<FastifyRequest, BearerIdentity>();
  const auth = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    try {
      callers.set(req, await authenticate(view, req.headers.authorization));
      return undefined;
    } catch (e) {
      // Returning the reply ends the request here (fastify: a hook that answers returns it).
      return refuse(reply, e);
    }
  };

  scope.post(RPC_PATH, { onRequest: auth, schema: { hide: true } }, async (req, reply) => {
    const caller = callers.get(req)!;
    const ctx: DispatchContext = {
      // The header was just checked; each call needs its method's permission on top.
      authorize: async (perm) => (requirePerm(caller.claims, perm), caller),
      clients,
      log,
    };
    const a = await answerText(typeof req.body === 'string' ? req.body : '', ctx);
    void reply.code(a.status).header('cache-control', 'no-store');
    return a.body === undefined ? reply.send() : reply.header('content-type', JSON_TYPE).send(a.body);
  });

  scope.route({
    method: 'GET',
    url: RPC_PATH,
    onRequest: auth,
    schema: { hide: true },
    handler: async (_req, reply) =>
      reply.code(400).header('content-type', JSON_TYPE).send(failure(null, errorObject(new RpcError(INVALID_REQUEST, `send JSON-RPC to ${RPC_PATH} with POST, or open a WebSocket there`)))),
    wsHandler: (socket: WebSocket, req: FastifyRequest) => serveSocket(socket, req.headers.authorization, view, clients, log),
  });
}

/**
 * @fastify/websocket passes every upgrade request on the server through the router, and a route
 * outside this scope answers it like a plain request and leaves the socket open, outside the HTTP
 * server's connection tracking, where it would hold the endpoint's close forever. So an upgrade of any
 * other path is destroyed at once (what Node does when nothing handles upgrades), and at close every
 * upgraded socket is ended after its WebSocket was told (1001), then destroyed if its peer lingers.
 */
function guardUpgrades(scope: FastifyInstance): void {
  const upgraded = new Set<Duplex>();
  const onUpgrade = (req: IncomingMessage, socket: Duplex): void => {
    if ((req.url ?? '').split('?')[0] !== RPC_PATH) {
      socket.destroy();
      return;
    }
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
  };
  // Before the plugin's own listener, so that it meets an already destroyed socket (its writes are dropped).
  scope.server.prependListener('upgrade', onUpgrade);
  scope.addHook('preClose', (done) => {
    scope.server.removeListener('upgrade', onUpgrade);
    for (const ws of scope.websocketServer.clients) ws.close(1001, 'the node is stopping');
    for (const s of upgraded) {
      s.end();
      setTimeout(() => s.destroy(), 1000).unref();
    }
    done();
  });
}

function serveSocket(socket: WebSocket, header: string | undefined, view: NodeView, clients: GatewayClients, log: Logger): void {
  let inFlight = 0;
  const ctx: DispatchContext = {
    // Checked again for every call: a token revoked (or expired) while the socket is open stops here.
    authorize: async (perm) => {
      const who = await authenticate(view, header);
      requirePerm(who.claims, perm);
      return who;
    },
    clients,
    log,
  };
  const send = (body: string | undefined): void => {
    if (body !== undefined && socket.readyState === socket.OPEN) socket.send(body);
  };
  socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    if (isCancel(text)) return;
    if (inFlight >= MAX_IN_FLIGHT) {
      send(refuseText(text, new HwayError('E_BUSY', `at most ${MAX_IN_FLIGHT} calls at once on one WebSocket`)));
      return;
    }
    inFlight++;
    void answerText(text, ctx)
      .then((a) => send(a.body))
      .catch((e: unknown) => log.warn('rpc websocket answer failed', { error: e instanceof Error ? e.message : String(e) }))
      .finally(() => inFlight--);
  });
}

/** go-jsonrpc's `xrpc.cancel` notification (websocket.go wsCancel). */
function isCancel(text: string): boolean {
  if (!text.includes('xrpc.cancel')) return false;
  try {
    const o = JSON.parse(text) as { method?: unknown };
    return typeof o === 'object' && o !== null && o.method === 'xrpc.cancel';
  } catch {
    return false;
  }
}
