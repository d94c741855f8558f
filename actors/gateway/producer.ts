// The producer side: ask the gateway by address (or miner id) and never know which wallet holds it.
// A request is pushed on a list that every gateway node pops (or one node's own list, `nodeId`), and
// the answer comes back on this client's channel. Fails fast (E_REDIS_UNAVAILABLE) when Redis is
// away; E_TIMEOUT when no node answers before the deadline.
//
// With a credential, a request carries its JWT and a MAC under the request key over id, op, reply
// channel, arguments and deadline; the key itself never leaves this process. Answers must be sealed
// under the same key for this request id: anything else on the reply channel rejects the call it
// names with E_FORGED_OUTCOME — except an unsealed E_UNAUTHORIZED, which a node sends when it could
// not verify the JWT (it then has no key to seal with).
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { HwayError, isHwayError } from '../../errors.js';
import { logger as makeLogger, type Logger } from '../../log.js';
import { backoff, connect, isConnectionError, unavailable, whenReady, subscribeWhenReady, type RedisSource } from '../../storage/redis.js';
import { parseCredential, type Credential } from '../credential.js';
import { GW_LABEL, requestMac, unseal, verifySealed } from './frame-auth.js';
import { PROTOCOL, parseJson, parseResponse, type JsonValue, type Op, type RequestFrame, type ResponseFrame, type SignMeta } from './frames.js';
import { GwKeys } from './keys.js';
import { RateLimitedError } from './ratelimit.js';
import { parseAddress } from '../../enclaves/addresses.js';

export interface GatewayClientOptions {
  redis?: RedisSource;
  /** The producer's credential, `<jwt>.<request key>` (auth on); env HWAY_TOKEN by default. */
  token?: string;
  prefix?: string;
  /** Default deadline of a request. Default 20 s. */
  timeoutMs?: number;
  /** Send to this gateway node only (default: whichever node pops the request first). */
  nodeId?: string;
  logger?: Logger;
}

export interface SignResult {
  /** 64-byte r ‖ s, hex. */
  signature: string;
  recovery: number;
  /** Which signer answered: a wallet connection id, or "vault:<id>". */
  via: string;
}

export interface WalletInfo {
  id: string;
  addresses: string[];
  since: number;
}

export interface MinerConnection {
  miner: string;
  connections: Array<{ id: string; inFlight: number }>;
}

interface Waiter {
  resolve: (v: JsonValue) => void;
  reject: (e: HwayError) => void;
  timer: NodeJS.Timeout;
}

export class GatewayClient {
  readonly clientId = randomUUID();
  private readonly keys: GwKeys;
  private readonly conn: Redis;
  private readonly sub: Redis;
  private subReady: Promise<unknown> | undefined;
  private readonly waiters = new Map<string, Waiter>();
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private closed = false;
  private nodesSeenAt = 0;
  private readonly cred: Credential | undefined;
  /** Why the configured credential is unusable (every call rejects with it). */
  private readonly credError: HwayError | undefined;

  constructor(private readonly opts: GatewayClientOptions = {}) {
    this.keys = new GwKeys(opts.prefix);
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    this.log = opts.logger ?? makeLogger('gateway-client');
    const token = opts.token ?? process.env.HWAY_TOKEN;
    try {
      this.cred = token ? parseCredential(token) : undefined;
    } catch (e) {
      this.credError = isHwayError(e) ? e : new HwayError('E_UNAUTHORIZED', 'the credential is malformed', { permanent: true });
    }
    const src = opts.redis ?? 'redis://127.0.0.1:6379';
    this.conn = connect(src, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2000, enableAutoPipelining: true, retryStrategy: backoff });
    this.sub = connect(src, { maxRetriesPerRequest: null, enableOfflineQueue: true, retryStrategy: backoff });
    for (const c of [this.conn, this.sub]) c.on('error', (e: Error) => this.log.debug('redis error', { error: e.message }));
    this.sub.on('message', (_ch: string, msg: string) => this.onResponse(msg));
  }

  /** Whether a signer (wallet or vault) of this account serves the address. */
  async walletHas(address: string): Promise<boolean> {
    parseAddress(address);
    return (await this.request('has', { address })) === true;
  }

  /** Sign `bytes` with the key of `address`. meta.type 'raw': bytes is a 32-byte digest (verified on the gateway). */
  async walletSign(address: string, bytes: Uint8Array, meta: SignMeta = { type: 'raw' }, opts: { timeoutMs?: number } = {}): Promise<SignResult> {
    parseAddress(address);
    const args: Record<string, JsonValue> = { address, bytes: Buffer.from(bytes).toString('hex'), meta: meta.extra === undefined ? { type: meta.type } : { type: meta.type, extra: meta.extra } };
    return (await this.request('sign', args, opts.timeoutMs)) as unknown as SignResult;
  }

  /** The wallet connections of this account with the addresses each announced. */
  async listWallets(): Promise<WalletInfo[]> {
    const v = (await this.request('list', {})) as unknown as Array<{ id: string; targets: string[]; since: number }>;
    return v.map((c) => ({ id: c.id, addresses: c.targets, since: c.since }));
  }

  async listConnectedMiners(): Promise<string[]> {
    return (await this.request('miners', {})) as unknown as string[];
  }

  async listMinerConnection(miner: string): Promise<MinerConnection> {
    return (await this.request('miner', { miner })) as unknown as MinerConnection;
  }

  /** Routed to a connected proof worker of `miner`; the worker's answer is returned as is. */
  async computeProof(miner: string, sectorInfos: JsonValue, randomness: Uint8Array, opts: { timeoutMs?: number } = {}): Promise<JsonValue> {
    return this.request('proof', { miner, sectorInfos, randomness: Buffer.from(randomness).toString('hex') }, opts.timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new HwayError('E_CLOSED', 'client is closed'));
      this.waiters.delete(id);
    }
    await Promise.all([this.conn, this.sub].map((c) => (c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : c.disconnect())));
  }

  private async request(op: Op, args: Record<string, JsonValue>, timeoutMs = this.timeoutMs): Promise<JsonValue> {
    if (this.closed) throw new HwayError('E_CLOSED', 'client is closed');
    if (this.credError) throw this.credError;
    await this.subscribed();
    const id = randomUUID();
    const frame: RequestFrame = { v: PROTOCOL, id, op, reply: this.keys.toClient(this.clientId), deadline: Date.now() + timeoutMs, args };
    if (this.cred) {
      frame.jwt = this.cred.jwt;
      frame.mac = requestMac(this.cred.requestKey, frame);
    }
    const answer = new Promise<JsonValue>((resolve, reject) => {
      // A little past the deadline: the node answers E_TIMEOUT itself when it can.
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new HwayError('E_TIMEOUT', `no gateway answer within ${timeoutMs} ms`));
      }, timeoutMs + 250);
      this.waiters.set(id, { resolve, reject, timer });
    });
    // The answer can come (and be a refusal) before the push below has returned: handled from now
    // on, so it is never an unhandled rejection; the caller still gets it from `return answer`.
    answer.catch(() => undefined);
    try {
      await whenReady(this.conn, 1000);
      await this.requireNode();
      const list = this.opts.nodeId ? this.keys.nodeRequests(this.opts.nodeId) : this.keys.requests();
      await this.conn.rpush(list, JSON.stringify(frame));
      // A node that died leaves its own list behind: let it go once nothing in it can matter.
      if (this.opts.nodeId) void this.conn.pexpire(list, timeoutMs + 60_000).catch(() => undefined);
    } catch (e) {
      const w = this.waiters.get(id);
      if (w) {
        clearTimeout(w.timer);
        this.waiters.delete(id);
      }
      throw isHwayError(e) ? e : isConnectionError(e) || /offline queue/i.test(String(e)) ? unavailable(e) : new HwayError('E_INTERNAL', String(e), { cause: e });
    }
    return answer;
  }

  /** Fail fast with E_NO_WALLET when no gateway node runs, instead of waiting out the deadline. */
  private async requireNode(): Promise<void> {
    if (Date.now() - this.nodesSeenAt < 2000) return;
    const now = Date.now();
    const live = this.opts.nodeId
      ? Number(await this.conn.zscore(this.keys.nodes(), this.opts.nodeId)) > now
      : (await this.conn.zcount(this.keys.nodes(), now, '+inf')) > 0;
    if (!live) throw new HwayError('E_NO_WALLET', this.opts.nodeId ? `gateway node ${this.opts.nodeId} is not running` : `no gateway node is running (prefix ${this.keys.prefix})`);
    this.nodesSeenAt = now;
  }

  private subscribed(): Promise<unknown> {
    this.subReady ??= subscribeWhenReady(this.sub, [this.keys.toClient(this.clientId)], 2000).catch((e: unknown) => {
      this.subReady = undefined;
      throw unavailable(e);
    });
    return this.subReady;
  }

  private onResponse(msg: string): void {
    const sealed = unseal(msg);
    let r: ResponseFrame;
    try {
      r = parseResponse(parseJson(sealed ? sealed.json : msg));
    } catch {
      this.log.warn('malformed gateway response');
      return;
    }
    const w = this.waiters.get(r.id);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiters.delete(r.id);
    const forged = this.cred !== undefined && !(sealed ? verifySealed(this.cred.requestKey, GW_LABEL.response, r.id, sealed) : !r.ok && r.error.code === 'E_UNAUTHORIZED');
    if (forged) {
      this.log.warn('refused a gateway response that is not authenticated', { request: r.id });
      const claimed = r.ok ? 'a success' : `an error ${r.error.code}`;
      w.reject(new HwayError('E_FORGED_OUTCOME', `the gateway's answer (${claimed}) is not authenticated for this request: refused (a gateway without auth never authenticates its answers)`, { permanent: true }));
      return;
    }
    if (r.ok) w.resolve(r.value);
    else if (r.error.code === 'E_RATE_LIMITED') w.reject(new RateLimitedError(r.error.retryAfterMs ?? 1000));
    else w.reject(new HwayError(r.error.code, r.error.message, { permanent: true }));
  }
}

/** One-shot helpers for scripts and the CLI: a client for the call, closed after. */
export async function withGateway<T>(opts: GatewayClientOptions, f: (c: GatewayClient) => Promise<T>): Promise<T> {
  const c = new GatewayClient(opts);
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}

type Src = { redis?: RedisSource; token?: string; prefix?: string };
export const walletHas = (src: Src, address: string): Promise<boolean> => withGateway(src, (c) => c.walletHas(address));
export const walletSign = (src: Src, address: string, bytes: Uint8Array, meta?: SignMeta): Promise<SignResult> => withGateway(src, (c) => c.walletSign(address, bytes, meta));
export const listWallets = (src: Src): Promise<WalletInfo[]> => withGateway(src, (c) => c.listWallets());
export const listConnectedMiners = (src: Src): Promise<string[]> => withGateway(src, (c) => c.listConnectedMiners());
export const listMinerConnection = (src: Src, miner: string): Promise<MinerConnection> => withGateway(src, (c) => c.listMinerConnection(miner));
export const computeProof = (src: Src, miner: string, sectorInfos: JsonValue, randomness: Uint8Array): Promise<JsonValue> =>
  withGateway(src, (c) => c.computeProof(miner, sectorInfos, randomness));
