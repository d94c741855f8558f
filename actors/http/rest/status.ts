// HTTP status of a refusal, and the one error body every REST route answers with:
// {"error":{"code":"E_…","message":"…"}}. The code is the stable one a producer of any language
// matches on; the status only lets generic HTTP tooling (retries, proxies, dashboards) tell the
// caller's mistakes (4xx) from the service's trouble (5xx).
import { HwayError, isHwayError, type ErrorCode } from '../../../errors.js';
import { RateLimitedError } from '../../gateway/ratelimit.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  E_BAD_INPUT: 400,
  E_BAD_PAYLOAD: 400,
  E_WEAK_PASSWORD: 400,
  // The caller's input, not the service, is wrong: a password that does not open the export, a key
  // or an export envelope that does not parse.
  E_WRONG_PASSWORD: 400,
  E_INVALID_KEY: 400,
  E_CORRUPT: 400,
  E_UNKNOWN_TYPE: 400,
  E_UNAUTHORIZED: 401,
  E_AUTH_REQUIRED: 401,
  E_FORBIDDEN: 403,
  E_UNKNOWN_VAULT: 404,
  E_NOT_FOUND: 404,
  E_VAULT_EXISTS: 409,
  E_CONFLICT: 409,
  E_RATE_LIMITED: 429,
  // The node's answer did not carry a MAC under this credential: an upstream fault, as a proxy's 502.
  E_FORGED_OUTCOME: 502,
  E_REDIS_UNAVAILABLE: 503,
  E_REDIS_MISCONFIGURED: 503,
  E_CLOSED: 503,
  E_BUSY: 503,
  E_STALE_EPOCH: 503,
  E_AUDIT_UNAVAILABLE: 503,
  E_TIMEOUT: 504,
};

export interface HttpRefusal {
  status: number;
  body: { error: { code: ErrorCode; message: string } };
  /** Seconds, for a Retry-After header (rate limits). */
  retryAfter?: number;
}

/** Fastify's own refusals (FST_ERR_…: a body that is not JSON, too large, of another type) carry a 4xx status. */
interface FastifyRefusal {
  statusCode?: number;
  validation?: unknown;
  message: string;
}

export function httpStatusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

/**
 * The status and body for anything a route threw. A HwayError keeps its code and message (they
 * never hold secrets, see errors.ts); a schema or parse error of fastify becomes E_BAD_INPUT with
 * fastify's message (it names the field, never its value); anything else is E_INTERNAL without
 * details, which stay in the node's log.
 */
export function refusalOf(e: unknown): HttpRefusal {
  if (isHwayError(e)) {
    const r: HttpRefusal = { status: httpStatusOf(e.code), body: { error: { code: e.code, message: e.message } } };
    if (e instanceof RateLimitedError) r.retryAfter = Math.max(1, Math.ceil(e.retryAfterMs / 1000));
    return r;
  }
  const f = e as FastifyRefusal;
  if (f !== null && typeof f === 'object' && (f.validation !== undefined || (typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500))) {
    return { status: f.validation !== undefined ? 400 : f.statusCode!, body: { error: { code: 'E_BAD_INPUT', message: f.message } } };
  }
  return { status: 500, body: { error: { code: 'E_INTERNAL', message: 'internal error' } } };
}

/** Auth is off on this node: the routes act with the caller's credential, so they refuse rather than open up. */
export function authOff(): HwayError {
  return new HwayError('E_UNAUTHORIZED', 'auth is off on this node (started insecure): the REST routes act with the caller\'s own credential and are refused without auth', { permanent: true });
}
