// One JSON-RPC message in (an HTTP body or a WebSocket text frame), its answer out: envelope checks,
// batches, method lookup, the caller's permission for that method, and the call made with the
// caller's own GatewayClient. Transport-free: routes.ts feeds it from HTTP and from WebSockets.
import { HwayError, isHwayError } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import type { Perm } from '../../gateway/perms.js';
import type { BearerIdentity } from '../bearer.js';
import type { GatewayClients } from './clients.js';
import { METHODS } from './methods.js';
import { errorObject, failure, httpStatus, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, parseCall, RpcError, success, type RpcId } from './protocol.js';

/** Requests in one batch. */
export const MAX_BATCH = 100;

export interface DispatchContext {
  /** The caller, allowed `perm` (E_UNAUTHORIZED / E_FORBIDDEN otherwise). */
  authorize(perm: Perm): Promise<BearerIdentity>;
  clients: GatewayClients;
  log: Logger;
}

export interface Answer {
  /** undefined when nothing is to be answered (notifications only). */
  body: string | undefined;
  /** HTTP status (httpStatus: go-jsonrpc's for protocol errors, 401/403 for auth, else 200). */
  status: number;
}

interface One {
  body: string | undefined;
  error: unknown;
}

async function callOne(x: unknown, ctx: DispatchContext): Promise<One> {
  const c = parseCall(x);
  if ('error' in c) return { body: failure(c.id, errorObject(c.error)), error: c.error };
  const answer = (result: unknown): One => ({ body: c.id === undefined ? undefined : success(c.id, result), error: undefined });
  const fail = (e: unknown): One => ({ body: c.id === undefined ? undefined : failure(c.id, errorObject(e)), error: e });
  // Own properties only: "constructor" or "__proto__" are unknown methods, not Object's.
  const m = Object.prototype.hasOwnProperty.call(METHODS, c.method) ? METHODS[c.method] : undefined;
  if (m === undefined) return fail(new RpcError(METHOD_NOT_FOUND, `method '${c.method}' not found`));
  if (!m.arity.includes(c.params.length)) {
    return fail(new RpcError(INVALID_PARAMS, `wrong param count (method '${c.method}'): ${c.params.length} != ${m.arity.join(' or ')}`));
  }
  try {
    const who = await ctx.authorize(m.perm);
    const lease = ctx.clients.acquire(who.token);
    try {
      return answer(await m.run(c.params, { claims: who.claims, client: lease.client }));
    } finally {
      lease.release();
    }
  } catch (e) {
    if (!isHwayError(e) && !(e instanceof RpcError)) ctx.log.warn('rpc method failed', { method: c.method, error: e instanceof Error ? e.message : String(e) });
    else if (isHwayError(e) && e.code === 'E_INTERNAL') ctx.log.warn('rpc method failed', { method: c.method, code: e.code, error: e.message });
    return fail(e);
  }
}

const invalid = (message: string): Answer => {
  const e = new RpcError(INVALID_REQUEST, message);
  return { body: failure(null, errorObject(e)), status: httpStatus(e) };
};

/** Answers the JSON-RPC text of one HTTP body or WebSocket message. Never throws. */
export async function answerText(text: string, ctx: DispatchContext): Promise<Answer> {
  const trimmed = text.trim();
  if (trimmed === '') return invalid('empty request');
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    const e = new RpcError(PARSE_ERROR, 'Parse error: the request is not JSON');
    return { body: failure(null, errorObject(e)), status: httpStatus(e) };
  }
  if (!Array.isArray(parsed)) {
    const one = await callOne(parsed, ctx);
    return { body: one.body, status: httpStatus(one.error) };
  }
  if (parsed.length === 0) return invalid('an empty batch is not a request');
  if (parsed.length > MAX_BATCH) return invalid(`a batch holds at most ${MAX_BATCH} requests`);
  // One after another, as go-jsonrpc runs a batch; the batch itself is answered 200.
  const parts: string[] = [];
  for (const x of parsed) {
    const one = await callOne(x, ctx);
    if (one.body !== undefined) parts.push(one.body);
  }
  return { body: parts.length === 0 ? undefined : `[${parts.join(',')}]`, status: 200 };
}

/** Answers every request of `text` with `error` without running any (e.g. too many calls in flight). */
export function refuseText(text: string, error: HwayError): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return failure(null, errorObject(new RpcError(PARSE_ERROR, 'Parse error: the request is not JSON')));
  }
  const idOf = (x: unknown): RpcId | undefined => {
    if (typeof x !== 'object' || x === null || !('id' in x)) return undefined;
    const id = (x as { id: unknown }).id;
    return typeof id === 'string' || typeof id === 'number' ? id : null;
  };
  const ids = (Array.isArray(parsed) ? parsed : [parsed]).map(idOf).filter((id): id is RpcId => id !== undefined);
  const parts = ids.map((id) => failure(id, errorObject(error)));
  if (parts.length === 0) return undefined;
  return Array.isArray(parsed) ? `[${parts.join(',')}]` : parts[0];
}
