// Permissions and the claims a token grants, and lifetimes as people write them ("24h"): what the
// token service, the gateway, the vault tasks and the CLI share.
import { HwayError } from '../../errors.js';

export const PERMS = ['read', 'write', 'sign', 'admin'] as const;
export type Perm = (typeof PERMS)[number];

export interface TokenClaims {
  account: string;
  perm: Perm;
  jti: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export interface IssuedToken {
  jti: string;
  account: string;
  perm: Perm;
  exp: number;
  revoked: boolean;
}

/** Throws E_FORBIDDEN unless `claims` grant at least `needed` (read < write < sign < admin). */
export function requirePerm(claims: Pick<TokenClaims, 'perm'>, needed: Perm): void {
  if (PERMS.indexOf(claims.perm) < PERMS.indexOf(needed)) {
    throw new HwayError('E_FORBIDDEN', `this token has permission "${claims.perm}"; "${needed}" is needed`, { permanent: true });
  }
}

export function isPerm(x: unknown): x is Perm {
  return typeof x === 'string' && (PERMS as readonly string[]).includes(x);
}

/** "90s", "15m", "24h", "30d" or plain seconds → seconds. */
export function parseTtl(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s.trim());
  if (!m) throw new HwayError('E_BAD_INPUT', `bad duration "${s}" (use e.g. 90s, 15m, 24h, 30d)`, { permanent: true });
  const n = Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]!]!;
  if (n <= 0) throw new HwayError('E_BAD_INPUT', 'duration must be positive', { permanent: true });
  return n;
}

