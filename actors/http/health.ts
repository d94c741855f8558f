// Readiness: may an orchestrator count this node as serving? (/healthz only says the process is alive.)
// Ready means all of:
//   - started: start() has finished and stop() has not begun (NOT_STARTED, STOPPING);
//   - Redis answers a PING on the node's connection within a short bound (REDIS_UNREACHABLE);
//   - the enclave is loaded: its plugin was read, checked against its pinned hash and answered a first
//     call, and the pool is not closed (ENCLAVE_NOT_LOADED);
//   - leases are settled (LEASES_UNSETTLED), which here means: the first lease round (heartbeat, renew,
//     rebalance) has completed, the node holds at least its share of the partitions (floor or ceil of
//     P / live nodes) and none of its partitions is being handed over (drained before release, or taken
//     and still claiming its pending entries). A node that has just joined is unsettled until the others
//     have released its share to it; one whose peer died is unsettled until the dead leases expire and
//     it has taken them over. That is what a rolling restart should wait for before the next node.
// Every failing check is listed, each with a stable code and a message for people.
import type { LeaseState } from '../ingress/leases.js';
import type { Ping } from './redis-reads.js';
import type { NodeView } from './view.js';

export type ReadinessCode = 'NOT_STARTED' | 'STOPPING' | 'REDIS_UNREACHABLE' | 'ENCLAVE_NOT_LOADED' | 'LEASES_UNSETTLED';

export interface ReadinessReason {
  code: ReadinessCode;
  message: string;
}

export interface Readiness {
  ready: boolean;
  reasons: ReadinessReason[];
}

/** The readiness of `view`, given the outcome of a PING just made within `pingMs` (see redis-reads.ts `ping`). */
export function assess(view: NodeView, redis: Ping, pingMs: number): Readiness {
  const reasons: ReadinessReason[] = [];
  const phase = view.phase();
  if (phase === 'stopping') {
    reasons.push({ code: 'STOPPING', message: 'the node is stopping: in-flight tasks finish, then its leases are released' });
  } else if (phase !== 'started') {
    reasons.push({ code: 'NOT_STARTED', message: phase === 'starting' ? 'the node is starting' : 'the node is not started' });
  }
  if (!redis.ok) reasons.push({ code: 'REDIS_UNREACHABLE', message: `Redis did not answer a PING within ${pingMs} ms (${redis.reason})` });
  if (view.enclave() === undefined) reasons.push({ code: 'ENCLAVE_NOT_LOADED', message: 'the enclave plugin is not loaded' });
  // While stopping, leases are given up on purpose: STOPPING says it.
  const ingress = phase === 'stopping' ? undefined : view.ingress();
  const why = ingress === undefined ? undefined : unsettled(ingress.leases);
  if (why !== undefined) reasons.push({ code: 'LEASES_UNSETTLED', message: why });
  return { ready: reasons.length === 0, reasons };
}

/** Why the leases are not settled (see the top of this file), or undefined when they are. */
export function unsettled(l: LeaseState & { claiming: number }): string | undefined {
  if (l.rounds === 0) return 'the first lease round has not completed';
  if (l.owned < l.target) return `holds ${l.owned} of its share of ${l.target} partitions (${l.nodes} live nodes)`;
  const moving = l.draining + l.claiming;
  if (moving > 0) return `${moving} partition(s) being handed over (${l.draining} draining, ${l.claiming} claiming pending entries)`;
  return undefined;
}
