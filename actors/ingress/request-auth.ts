// The producer's side of request authentication (actors/credential.ts): its credential with the
// token's expiry, and the check every outcome passes before call() or result() believe it.
import { decodeJwt } from 'jose';
import { HwayError } from '../../errors.js';
import { openOutcome, type Credential } from '../credential.js';
import { toOutcome, type Envelope, type TaskOutcome } from './task.js';

/** A credential with its token's expiry (ms), decoded once. */
export interface Signer {
  cred: Credential;
  expMs: number;
}

export function signerOf(cred: Credential): Signer {
  let exp: unknown;
  try {
    exp = decodeJwt(cred.jwt).exp;
  } catch {
    throw new HwayError('E_UNAUTHORIZED', 'the credential\'s token is malformed', { permanent: true });
  }
  return { cred, expMs: typeof exp === 'number' ? exp * 1000 : Number.MAX_SAFE_INTEGER };
}

/**
 * An outcome as stored or published. With a request key it must carry the node's MAC for this task
 * (E_FORGED_OUTCOME otherwise); the one exception is an unauthenticated E_UNAUTHORIZED, which a node
 * answers when it could not verify the request at all: believing it gives a forger nothing but the
 * denial of service it could cause anyway.
 */
export function decodeOutcome(taskId: string, raw: string, rk: Uint8Array | undefined): TaskOutcome {
  if (rk === undefined) return toOutcome(JSON.parse(raw) as Envelope);
  const envelope = openOutcome(rk, taskId, raw);
  if (envelope !== null) return toOutcome(JSON.parse(envelope) as Envelope);
  let plain: unknown;
  try {
    plain = JSON.parse(raw);
  } catch {
    plain = null;
  }
  const env = plain as { a?: unknown; ok?: unknown; e?: { code?: unknown } } | null;
  if (env !== null && env.a === undefined && env.ok === 0 && env.e?.code === 'E_UNAUTHORIZED') return toOutcome(env as Envelope);
  throw new HwayError('E_FORGED_OUTCOME', `the outcome of task ${taskId} is not authenticated by a node (forged or swapped in Redis)`, { permanent: true });
}

