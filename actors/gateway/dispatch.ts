// Dispatch and failover: one producer request sent to the wallets of its route in turn, until one
// answers acceptably or the request's deadline passes. The wallet supervisor picks each attempt's
// connection (the fewest requests in flight on this node, then the smallest id) and the connection's
// actor carries the attempt (wallet-actor.ts); an error, a timeout, a disconnection or an answer that
// `accept` refuses moves on to the next wallet.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { HwayError, isHwayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { isCluster } from '../../storage/redis.js';
import type { GatewayCounters } from './counters.js';
import type { JsonValue, ToWalletFrame } from './frames.js';
import { walletWire, type NodeAuth } from './node-auth.js';
import type { Charge } from './ratelimit.js';
import type { Route, RouteConn } from './router.js';
import type { OkReply, Publish } from './wallet-actor.js';
import { sendToConn } from './wallet-channel.js';
import type { WalletSupervisor } from './wallet-supervisor.js';

export interface DispatchDeps {
  wallets: WalletSupervisor;
  auth: NodeAuth | undefined;
  /** The fail-fast connection the request path publishes on. */
  fast: Redis;
  /** Longest wait for one wallet before trying the next. */
  attemptTimeoutMs: number;
  counters: GatewayCounters;
  log: Logger;
}

const asHwayError = (e: unknown): HwayError => (isHwayError(e) ? e : new HwayError('E_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e }));

/**
 * Sends one request to the route's wallets in turn until one answers acceptably or the deadline
 * passes: the least loaded healthy one first, the next on error, timeout or disconnection.
 */
export async function dispatch(
  d: DispatchDeps,
  account: string,
  route: Route,
  deadline: number,
  frame: (id: string, c: RouteConn) => ToWalletFrame,
  accept: (r: OkReply, c: RouteConn) => Promise<JsonValue>,
  what: string,
  charge: Charge,
): Promise<JsonValue> {
  const tried = new Set<string>();
  let last: HwayError | undefined;
  for (;;) {
    if (Date.now() >= deadline) throw new HwayError('E_TIMEOUT', `no answer for ${what} before the deadline`);
    const { ticket, busy } = await d.wallets.pick(route.conns, tried);
    if (!ticket) {
      // A refusal is charged too, so that probing for addresses is rate limited like signing.
      if (!charge.done) await charge.take();
      if (last) throw last.code === 'E_NO_WALLET' && busy ? new HwayError('E_WALLET_BUSY', `every wallet for ${what} is busy`) : last;
      if (busy) throw new HwayError('E_WALLET_BUSY', `every wallet for ${what} is busy`);
      throw new HwayError('E_NO_WALLET', `no wallet connected for ${what} in this account`, { permanent: true });
    }
    const c = ticket.conn;
    tried.add(c.conn);
    if (tried.size > 1) d.counters.n.failovers++;
    let fk: Uint8Array | undefined;
    try {
      fk = await d.auth?.frameKey(c.conn, account);
    } catch (e) {
      // Its key record is gone or does not verify for this account: unusable, like a dead wallet.
      d.wallets.release(ticket);
      last = new HwayError('E_NO_WALLET', `wallet connection ${c.conn} cannot be reached (${asHwayError(e).code})`);
      d.log.warn('wallet connection skipped: no frame key', { conn: c.conn, code: asHwayError(e).code });
      continue;
    }
    // The first attempt charges the limits and publishes in one script; failovers only publish. On
    // a Redis Cluster the charge and the publish are two calls: the buckets sit in the account's
    // slot and the wallet's shard channel in its own, and a script may touch only one slot.
    let refusedByLimits = false;
    const refused = (e: unknown): never => {
      refusedByLimits = true;
      throw e;
    };
    const publish: Publish = charge.done
      ? (ch, m) => sendToConn(d.fast, ch, m)
      : isCluster(d.fast)
        ? (ch, m) => charge.take().then(() => sendToConn(d.fast, ch, m), refused)
        : (ch, m) => charge.take({ channel: ch, message: m }).catch(refused);
    const id = randomUUID();
    let wire: string;
    try {
      wire = walletWire(c.conn, frame(id, c), fk);
    } catch (e) {
      d.wallets.release(ticket);
      throw e;
    }
    try {
      const timeoutMs = Math.max(1, Math.min(d.attemptTimeoutMs, deadline - Date.now()));
      const r = await d.wallets.send(ticket, { id, wire, fk, timeoutMs, publish });
      return await accept(r, c);
    } catch (e) {
      last = asHwayError(e);
      // Over the limit, or the limits could not be checked (fail closed): never try another wallet.
      if (last.code === 'E_BAD_INPUT' || last.code === 'E_CLOSED' || refusedByLimits) throw last;
      d.log.debug('attempt failed', { conn: c.conn, code: last.code });
    }
  }
}
