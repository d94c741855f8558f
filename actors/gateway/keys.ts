// Key and channel names of the signer gateway. Everything lives under one prefix (default "hway"), so
// that a test file or a second cluster on the same Redis uses its own.
//
// Redis Cluster: every key of the gateway's routing table carries the one hash tag `{gw}`, so all of
// them live in one slot, on one master. Its scripts (register, unregister, unroute) and its multi-key
// commands (BLMPOP over the two request lists, pipelines over connections) then work on a cluster as
// on a single Redis. The table is small (a few keys per wallet connection, a set per routed address,
// short-lived challenges and request lists), so one master serves it; it is not sharded.
//
//   <p>:{gw}:conn:<connId>               hash, PX = 3 heartbeats: liveness (account, kind, ttl)
//   <p>:{gw}:conninfo:<connId>           hash, no expiry: the connection's routes (for cleanup and lookups)
//   <p>:{gw}:conns                       set of all connection ids (the sweeper walks it)
//   <p>:{gw}:addr:<account>:<address>    set of connection ids holding a key (address in canonical form)
//   <p>:{gw}:miner:<account>:<miner>     set of proof-worker connection ids serving a miner
//   <p>:{gw}:nonce:<connId>:<round>      a pending challenge, short TTL, deleted on first use (GETDEL)
//   <p>:{gw}:hello                       stream of connection frames (hello, prove, add, remove, bye),
//                                        read by the node group "gw": exactly one node answers each
//   <p>:{gw}:req  /  <p>:{gw}:req:<nodeId>  lists of producer requests (any node / one node), BLMPOP
//   <p>:{gw}:nodes                       zset of live gateway nodes (score = expiry ms), for producers
//   <p>:{gw}:sweep                       the sweeper's short lock
//   <p>:gw:to:<connId>                   node → wallet: a shard channel (SPUBLISH/SSUBSCRIBE) in the
//                                        slot of its own name, so its listener count is exact on a
//                                        cluster too (wallet-channel.ts)
//   channels (plain PUBLISH/SUBSCRIBE, which a cluster broadcasts to every node; not keys, no slot):
//             <p>:gw:reply:<nodeId> (wallet → node), <p>:gw:res:<clientId> (node → producer),
//             <p>:gw:events (routes changed)
//   <p>:tok:issued / <p>:tok:revoked     hashes jti → record; channel <p>:tok:revoked. Each is only ever
//                                        used alone in a command (in whatever slot it hashes to)
//   <p>:rl:{<account>}:t:<jti> / <p>:rl:{<account>}:a   token buckets (one hash slot per account)
export type RouteKind = 'addr' | 'miner';

export class GwKeys {
  /** "<p>:{gw}:", the start of every routing-table key. */
  private readonly gw: string;

  constructor(readonly prefix: string = 'hway') {
    this.gw = `${prefix}:{gw}:`;
  }

  conn(id: string): string {
    return `${this.gw}conn:${id}`;
  }
  connInfo(id: string): string {
    return `${this.gw}conninfo:${id}`;
  }
  conns(): string {
    return `${this.gw}conns`;
  }
  route(kind: RouteKind, account: string, target: string): string {
    return `${this.gw}${kind}:${account}:${target}`;
  }
  nonce(connId: string, round: number): string {
    return `${this.gw}nonce:${connId}:${round}`;
  }
  hello(): string {
    return `${this.gw}hello`;
  }
  requests(): string {
    return `${this.gw}req`;
  }
  nodeRequests(nodeId: string): string {
    return `${this.gw}req:${nodeId}`;
  }
  toConn(connId: string): string {
    return `${this.prefix}:gw:to:${connId}`;
  }
  toNode(nodeId: string): string {
    return `${this.prefix}:gw:reply:${nodeId}`;
  }
  toClient(clientId: string): string {
    return `${this.prefix}:gw:res:${clientId}`;
  }
  events(): string {
    return `${this.prefix}:gw:events`;
  }
  /** zset of live gateway nodes, score = expiry (ms). */
  nodes(): string {
    return `${this.gw}nodes`;
  }
  sweepLock(): string {
    return `${this.gw}sweep`;
  }
  tokensIssued(): string {
    return `${this.prefix}:tok:issued`;
  }
  tokensRevoked(): string {
    return `${this.prefix}:tok:revoked`;
  }
  revokedChannel(): string {
    return `${this.prefix}:tok:revoked`;
  }
  bucketToken(account: string, jti: string): string {
    return `${this.prefix}:rl:{${account}}:t:${jti}`;
  }
  bucketAccount(account: string): string {
    return `${this.prefix}:rl:{${account}}:a`;
  }
}

/** The consumer group of the hello stream. */
export const HELLO_GROUP = 'gw';
