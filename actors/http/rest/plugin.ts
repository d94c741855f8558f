// The REST API of the node's HTTP endpoint: the vault operations as plain JSON routes under /v1 (for
// producers in any language) and GET /openapi.json, the OpenAPI 3 document that @fastify/swagger
// generates from the same route schemas that validate the requests.
//
// Auth: `Authorization: Bearer <credential>`, the whole credential `<jwt>.<request key>` (bearer.ts),
// checked before the body is read, with the permission of the operation's task type. The request then
// runs as a producer with that credential (producer.ts): the node sees an ordinary MAC'd task and
// applies the token's account, permission and rate limits to it. With auth off the routes refuse
// (401): they would otherwise let anyone who reaches the port act on every vault.
//
// Encapsulated (a plain fastify plugin): the swagger decorator, its onRoute hook, the error handler
// and the shared error schema stay in this context, so the document lists these routes only and the
// other paths of the endpoint (/metrics, /rpc/v0, /) keep their own error formats.
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../../log.js';
import { HwayError } from '../../../errors.js';
import type { Priority } from '../../ingress/keys.js';
import { TASK_PERM } from '../../vault/tasks.js';
import { authenticateBearer, type BearerIdentity } from '../bearer.js';
import type { NodeView } from '../view.js';
import { RestProducer } from './producer.js';
import { ROUTES, schemaOf, type RestRoute } from './routes.js';
import { errorBodySchema } from './schemas.js';
import { authOff, refusalOf } from './status.js';

export interface RestOptions {
  view: NodeView;
  log: Logger;
}

const API_VERSION = '1.0.0';

export async function restApi(app: FastifyInstance, opts: RestOptions): Promise<void> {
  const { view, log } = opts;
  const producer = new RestProducer({ redis: view.redisSource, prefix: view.prefix, partitions: view.partitions, logger: log.child({ component: 'rest-producer' }) });
  app.addHook('onClose', async () => producer.close());

  // Before any route of this context: swagger collects routes with an onRoute hook.
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Highway vault API',
        version: API_VERSION,
        description:
          'The vault operations of a Highway node as JSON routes. Each request runs as a producer with the caller\'s own credential: ' +
          'the bearer is the whole credential <jwt>.<request key> (hway token issue); a bare JWT is refused. ' +
          'Every refusal is {"error":{"code":"E_…","message":"…"}} with a stable code.',
      },
      tags: [{ name: 'vaults', description: 'vault operations' }],
      components: {
        securitySchemes: {
          credential: { type: 'http', scheme: 'bearer', bearerFormat: '<jwt>.<request key>', description: 'the whole credential of `hway token issue`' },
        },
      },
      security: [{ credential: [] }],
    },
    // Shared schemas keep their $id as their name under components/schemas.
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  app.addSchema(errorBodySchema);

  app.setErrorHandler((err, req, reply) => {
    const r = refusalOf(err);
    if (r.status >= 500) log.warn('REST request failed', { route: req.routeOptions.url, code: r.body.error.code });
    else log.debug('REST request refused', { route: req.routeOptions.url, code: r.body.error.code });
    if (r.status === 401) void reply.header('www-authenticate', 'Bearer');
    if (r.retryAfter !== undefined) void reply.header('retry-after', String(r.retryAfter));
    void reply.header('cache-control', 'no-store').code(r.status);
    return r.body;
  });

  app.get('/openapi.json', { schema: { hide: true } }, async (_req, reply) => {
    void reply.header('cache-control', 'no-store');
    return app.swagger();
  });

  await app.register(
    async (v1) => {
      const identities = new WeakMap<FastifyRequest, BearerIdentity>();
      const authenticate = (r: RestRoute) => async (req: FastifyRequest): Promise<void> => {
        if (view.insecure) throw authOff();
        const tokens = view.tokens();
        if (tokens === undefined) throw new HwayError('E_CLOSED', 'the node is not started: no token service to check the credential');
        identities.set(req, await authenticateBearer(req.headers.authorization, tokens, TASK_PERM[r.task]));
      };
      for (const r of ROUTES) {
        v1.route({
          method: r.method,
          url: r.url,
          schema: schemaOf(r),
          // onRequest: refused before the body is read or validated.
          onRequest: authenticate(r),
          handler: async (req: FastifyRequest, reply: FastifyReply) => {
            const who = identities.get(req);
            if (who === undefined) throw new HwayError('E_UNAUTHORIZED', 'not authenticated', { permanent: true });
            const q = (req.query ?? {}) as { timeoutMs?: number; priority?: Priority };
            const id = (req.params as { id?: string }).id ?? '';
            const value = await r.call(producer.vault(), { id, body: req.body }, {
              credential: who.credential,
              ...(q.timeoutMs === undefined ? {} : { callTimeoutMs: q.timeoutMs }),
              ...(q.priority === undefined ? {} : { priority: q.priority }),
            });
            void reply.header('cache-control', 'no-store').code(r.ok);
            return value;
          },
        });
      }
      v1.setNotFoundHandler((req, reply) => {
        void reply.code(404).header('cache-control', 'no-store');
        return { error: { code: 'E_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } };
      });
    },
    { prefix: '/v1' },
  );
}
