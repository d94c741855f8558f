// What the HTTP endpoint reads of its node. The node (actors/node.ts) implements this with closures over
// its parts, so that metrics and health depend on no node internals, and the node on nothing in this
// folder but types until the endpoint is turned on (then server.ts is imported, with fastify and
// prom-client).
import type { Redis } from 'ioredis';
import type { PoolStats } from '../../enclaves/pool.js';
import type { RedisSource } from '../../storage/redis.js';
import type { GatewayStats } from '../gateway/gateway.js';
import type { TokenService } from '../gateway/tokens.js';
import type { IngressStats } from '../ingress/consumer.js';
import type { LeaseState } from '../ingress/leases.js';
import type { SupervisorStats } from '../vault/vault-supervisor.js';

/** stopped → starting → started → stopping → stopped; the endpoint is up from starting to the end of stopping. */
export type NodePhase = 'stopped' | 'starting' | 'started' | 'stopping';

export interface IngressView {
  stats: IngressStats;
  leases: LeaseState & { claiming: number };
  /** Partitions this node serves now: the queue gauges read these, so that nodes' values add up. */
  owned: number[];
}

export interface NodeView {
  readonly nodeId: string;
  /** The key prefix, for the Redis reads (queue depths, dead letters, gateway connections). */
  readonly prefix: string;
  phase(): NodePhase;
  /** The node's own command connection: reconnects forever and queues while Redis is away. */
  readonly redis: Redis;
  /** Times that connection became ready again after losing Redis. */
  redisReconnects(): number;
  /** The enclave pool's counters; undefined until its plugin is loaded and checked, and after it closed. */
  enclave(): PoolStats | undefined;
  ingress(): IngressView | undefined;
  /** The vault supervisor's counters (a message to its actor); undefined when it is not running. */
  vaults(): Promise<SupervisorStats> | undefined;
  /** undefined when the gateway is off or not running. */
  gateway(): GatewayStats | undefined;
  /** The token service, for bearer auth on HTTP (bearer.ts); undefined before start and with auth off. */
  tokens(): TokenService | undefined;
  /** Auth is off (NodeOptions.insecure): the authenticated routes then refuse rather than open up. */
  readonly insecure: boolean;
  /** Where the node's Redis is and its partition count: the REST routes enqueue vault tasks there as producers. */
  readonly redisSource: RedisSource;
  readonly partitions: number;
}
