// Route keys, typed. A route is what producer requests are routed by — a wallet address or a miner id —
// within one account. Inside the gateway it travels as a RouteKey; its Redis spelling (the route's set
// key under the gateway's hash tag, keys.ts) is made by encodeRouteKey and nowhere else, and nothing
// parses that spelling back: whoever needs the kind, account or target reads them off the object.
import { MINER_RE, bad, type RequestFrame } from './frames.js';
import type { GwKeys, RouteKind } from './keys.js';
import { routingAddress } from './signatures.js';

export interface RouteKey {
  readonly kind: RouteKind;
  readonly account: string;
  /** A wallet address in its routing spelling (signatures.ts routingAddress), or a miner id. */
  readonly target: string;
}

/** The one encoding of a route key: the Redis key of its set of connection ids. */
export function encodeRouteKey(keys: GwKeys, k: RouteKey): string {
  return keys.route(k.kind, k.account, k.target);
}

/** The route of a wallet address (any accepted spelling) in an account. */
export function addressRoute(account: string, address: string): RouteKey {
  return { kind: 'addr', account, target: routingAddress(address) };
}

/** The route of a miner id in an account. */
export function minerRoute(account: string, miner: string): RouteKey {
  return { kind: 'miner', account, target: miner };
}

/** The route a producer request is for, or undefined for the ops that read listings (list, miners). */
export function requestRoute(req: RequestFrame, account: string): RouteKey | undefined {
  const a = req.args;
  if (req.op === 'has' || req.op === 'sign') {
    if (typeof a.address !== 'string') throw bad('address is required');
    return addressRoute(account, a.address);
  }
  if (req.op === 'proof' || req.op === 'miner') {
    if (typeof a.miner !== 'string' || !MINER_RE.test(a.miner)) throw bad('miner must be a miner id (f0…/t0…)');
    return minerRoute(account, a.miner);
  }
  return undefined;
}
