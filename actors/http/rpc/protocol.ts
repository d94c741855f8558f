// JSON-RPC 2.0 as filecoin-project/go-jsonrpc speaks it (handler.go, response.go, server.go, errors.go):
//   request   {"jsonrpc":"2.0","id":…,"method":"Gateway.WalletHas","params":[…]}   params positional
//   response  {"jsonrpc":"2.0","id":…,"result":…}  or  {"jsonrpc":"2.0","id":…,"error":{"code","message","data"?}}
//   a batch   a JSON array of requests, answered by an array in the same order (go-jsonrpc handleReader;
//             it runs them one after another, and so do we); an empty batch is an invalid request
//   no "id"   a notification: executed, never answered
// Protocol errors use the standard codes (server.go: rpcParseError … rpcInvalidParams). A method's
// failure carries its HwayError code in `data.code`, under a stable number of the server range below.
import { HwayError, isHwayError, type ErrorCode } from '../../../errors.js';

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;

/**
 * HwayError code → JSON-RPC error code. Bad input is "invalid params"; the rest sit in the
 * implementation-defined server range -32000…-32099 (-32000 for any code not listed).
 */
const CODES: Partial<Record<ErrorCode, number>> = {
  E_BAD_INPUT: INVALID_PARAMS,
  E_BAD_PAYLOAD: INVALID_PARAMS,
  E_UNAUTHORIZED: -32001,
  E_FORBIDDEN: -32003,
  E_NO_WALLET: -32004,
  E_WALLET_BUSY: -32005,
  E_TIMEOUT: -32008,
  E_RATE_LIMITED: -32029,
  E_BUSY: -32030,
  E_REDIS_UNAVAILABLE: -32031,
};
export const SERVER_ERROR = -32000;

export type RpcId = string | number | null;

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: { code: ErrorCode; retryAfterMs?: number };
}

/** A protocol-level failure (bad envelope, unknown method, bad params): its standard code and data. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly hwayCode: ErrorCode = 'E_BAD_INPUT',
  ) {
    super(message);
  }
}

export interface RpcCall {
  /** undefined: a notification (no "id" member). */
  id: RpcId | undefined;
  method: string;
  params: unknown[];
}

const ID_MAX = 256;

/** Validates one request object; an RpcError (with the id when one could be read) otherwise. */
export function parseCall(x: unknown): RpcCall | { error: RpcError; id: RpcId } {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return { error: new RpcError(INVALID_REQUEST, 'a request must be a JSON object'), id: null };
  const o = x as Record<string, unknown>;
  let id: RpcId | undefined;
  if ('id' in o) {
    const v = o.id;
    if (v === null || (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length <= ID_MAX)) id = v;
    else return { error: new RpcError(INVALID_REQUEST, 'id must be a string, a number or null'), id: null };
  }
  const answerId: RpcId = id ?? null;
  if (o.jsonrpc !== '2.0') return { error: new RpcError(INVALID_REQUEST, 'jsonrpc must be "2.0"'), id: answerId };
  if (typeof o.method !== 'string' || o.method.length === 0 || o.method.length > 128) return { error: new RpcError(INVALID_REQUEST, 'method must be a non-empty string'), id: answerId };
  // go-jsonrpc reads params as a positional array; absent (or null) means none.
  const p = o.params;
  if (p !== undefined && p !== null && !Array.isArray(p)) return { error: new RpcError(INVALID_PARAMS, 'params must be an array (positional, as go-jsonrpc sends them)'), id: answerId };
  return { id, method: o.method, params: (p ?? []) as unknown[] };
}

/** The error object of anything a call threw. */
export function errorObject(e: unknown): RpcErrorObject {
  if (e instanceof RpcError) return { code: e.code, message: e.message, data: { code: e.hwayCode } };
  const h = isHwayError(e) ? e : new HwayError('E_INTERNAL', 'internal error');
  const data: RpcErrorObject['data'] = { code: h.code };
  const retry = (h as { retryAfterMs?: unknown }).retryAfterMs;
  if (h.code === 'E_RATE_LIMITED' && typeof retry === 'number') data.retryAfterMs = retry;
  return { code: CODES[h.code] ?? SERVER_ERROR, message: h.message, data };
}

export const success = (id: RpcId, result: unknown): string => JSON.stringify({ jsonrpc: '2.0', id, result: result ?? null });
export const failure = (id: RpcId, error: RpcErrorObject): string => JSON.stringify({ jsonrpc: '2.0', id, error });

/**
 * HTTP status of a single (non-batch) answer. Protocol errors as go-jsonrpc's rpcError: 400 for an
 * invalid request, 500 for a parse error, an unknown method or params that do not decode (its Go
 * client reads the JSON body of both). A method's error: 401 / 403 for E_UNAUTHORIZED / E_FORBIDDEN
 * (a Go client then reports the HTTP status, as it does with sophon-auth's refusals), else 200, as
 * go-jsonrpc answers a method that returned an error.
 */
export function httpStatus(e: unknown): number {
  if (e === undefined) return 200;
  if (e instanceof RpcError) return e.code === INVALID_REQUEST ? 400 : 500;
  const code = isHwayError(e) ? e.code : 'E_INTERNAL';
  return code === 'E_UNAUTHORIZED' ? 401 : code === 'E_FORBIDDEN' ? 403 : 200;
}
