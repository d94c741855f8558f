// Bearer auth of the HTTP endpoint (cluster page, JSON-RPC, REST). Over HTTP the whole credential
// `<jwt>.<request key>` is the bearer: the JWT alone (the part that travels through Redis in task
// hashes and gateway frames) is refused, so that reading Redis never yields an HTTP login.
import { timingSafeEqual } from 'node:crypto';
import { HwayError } from '../../errors.js';
import { parseCredential, type Credential } from '../credential.js';
import { requirePerm, type Perm, type TokenClaims } from '../gateway/perms.js';
import type { TokenService } from '../gateway/tokens.js';

export interface BearerIdentity {
  claims: TokenClaims;
  /** The caller's credential, to act for it as a producer (its MACs, its outcome checks). */
  credential: Credential;
  /** The header value as given, e.g. to hand to a client that parses it itself. */
  token: string;
}

/** HTTP status of an auth failure: 401 for no or a bad credential, 403 for too few permissions. */
export function authStatus(e: unknown): 401 | 403 | undefined {
  if (!(e instanceof HwayError)) return undefined;
  if (e.code === 'E_UNAUTHORIZED') return 401;
  if (e.code === 'E_FORBIDDEN') return 403;
  return undefined;
}

/**
 * Checks `Authorization: Bearer <credential>`: the JWT (signature, expiry, revocation) and that the
 * request key is the one the nodes derive for its jti. E_UNAUTHORIZED when any of that fails,
 * E_FORBIDDEN when the token's permission is below `needed`.
 */
export async function authenticateBearer(header: string | undefined, tokens: TokenService, needed: Perm): Promise<BearerIdentity> {
  const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!m) throw new HwayError('E_UNAUTHORIZED', 'an Authorization: Bearer <credential> header is required', { permanent: true });
  const token = m[1]!;
  if (token.split('.').length === 3) {
    throw new HwayError('E_UNAUTHORIZED', 'a bare JWT is not a credential here: the bearer is the whole credential <jwt>.<request key>', { permanent: true });
  }
  const credential = parseCredential(token);
  const { claims, requestKey } = await tokens.authenticate(credential.jwt);
  const given = Buffer.from(credential.requestKey);
  if (given.length !== requestKey.length || !timingSafeEqual(given, Buffer.from(requestKey))) {
    throw new HwayError('E_UNAUTHORIZED', 'the request key of this credential does not match its token', { permanent: true });
  }
  requirePerm(claims, needed);
  return { claims, credential, token };
}
