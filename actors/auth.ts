// Authorization of tasks that arrive through the ingress, when the node has auth on: the producer's
// token travels in the payload (`_token`, set by HwayClient), is verified (cached, revocations honoured
// within 1 s), must grant the permission the task type needs, and is charged to the token's and the
// account's rate limits. The task then acts for the token's account only.
import { HwayError, isHwayError } from '../errors.js';
import type { RateLimiter } from './gateway/ratelimit.js';
import { requirePerm, type TokenService } from './gateway/tokens.js';
import type { Task } from './ingress/task.js';
import type { Authorize, Perm } from './vault/tasks.js';

/** Auth off: every task acts for any account ('*'); the vault records the default account. */
export const openAccess: Authorize = async () => '*';

export function tokenAuthorizer(tokens: TokenService, limiter?: RateLimiter): Authorize {
  return async (task: Task, needed: Perm): Promise<string> => {
    const token = (task.payload as { _token?: unknown } | null)?._token;
    if (typeof token !== 'string' || token === '') {
      throw new HwayError('E_UNAUTHORIZED', 'this node requires a token: set HWAY_TOKEN or HwayClient({ token })', { permanent: true });
    }
    const claims = await tokens.verifyToken(token);
    requirePerm(claims, needed);
    // The node's own internal tokens act on a request the producer's token was already charged for.
    if (limiter !== undefined && !claims.jti.startsWith('internal:')) {
      try {
        await limiter.take(claims.account, claims.jti);
      } catch (err) {
        // Refused at once rather than retried with backoff: the producer learns the retry-after now.
        if (isHwayError(err) && err.code === 'E_RATE_LIMITED') throw new HwayError('E_RATE_LIMITED', err.message, { permanent: true });
        throw err;
      }
    }
    return claims.account;
  };
}
