// Authentication and authorization of tasks that arrive through the ingress, when the node has auth
// on. Redis is untrusted (DESIGN.md), so a task is believed only for what its request MAC proves: the
// task's `auth` field carries the token's JWT, an expiry and a MAC under the token's request key over
// task id, type, ordering key, payload digest and expiry (actors/credential.ts). The node verifies the
// JWT (cached, revocations honoured within 1 s and remembered), derives the request key, checks the
// MAC and the expiry, and only then runs the task, acting for the token's account. Vault tasks then
// need the permission of their type and are charged to the token's and the account's rate limits.
import { HwayError, isHwayError } from '../errors.js';
import { openSecret, parseTaskAuth, verifyTaskMac } from './credential.js';
import { ChargeBatcher } from './gateway/charge-batcher.js';
import type { RateLimiter } from './gateway/ratelimit.js';
import { requirePerm, type TokenService } from './gateway/tokens.js';
import type { Authenticator, Verified } from './ingress/executor.js';
import type { Task } from './ingress/task.js';
import type { Authorize, Perm } from './vault/tasks.js';

/** Auth off: every task acts for any account ('*'); the vault records the default account. */
export const openAccess: Authorize = async () => '*';

const unauthorized = (message: string): HwayError => new HwayError('E_UNAUTHORIZED', message, { permanent: true });

export function tokenAuthenticator(tokens: TokenService): Authenticator {
  return async (e): Promise<Verified> => {
    const a = parseTaskAuth(e.auth);
    if (a === null) throw unauthorized('this node requires a credential: the task carries no request MAC (HwayClient({ token }), env HWAY_TOKEN)');
    const { claims, requestKey } = await tokens.authenticate(a.jwt);
    const type = e.type ?? '';
    if (!verifyTaskMac(requestKey, { id: e.id, type, key: e.key, payload: e.payload ?? '' }, a)) {
      throw unauthorized('the request MAC does not match this task (its id, type, key or payload changed)');
    }
    if (a.exp <= Date.now()) throw unauthorized('the request expired');
    return {
      requestKey,
      auth: { account: claims.account, perm: claims.perm, jti: claims.jti, openSecret: (box: string) => openSecret(requestKey, e.id, type, box) },
    };
  };
}

/** Vault tasks with auth on: the verified account, if its token grants `needed`, within its rate limits. */
export function tokenAuthorizer(limiter?: RateLimiter): Authorize {
  const charges = limiter === undefined ? undefined : new ChargeBatcher(limiter);
  return async (task: Task, needed: Perm): Promise<string> => {
    const auth = task.auth;
    if (auth === undefined) throw unauthorized('this node requires a credential');
    requirePerm(auth, needed);
    if (charges !== undefined) {
      try {
        await charges.charge(auth.account, auth.jti);
      } catch (err) {
        // Refused at once rather than retried with backoff: the producer learns the retry-after now.
        if (isHwayError(err) && err.code === 'E_RATE_LIMITED') throw new HwayError('E_RATE_LIMITED', err.message, { permanent: true });
        throw err;
      }
    }
    return auth.account;
  };
}
