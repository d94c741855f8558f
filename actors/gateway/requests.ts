// Producer requests on a gateway node: popped from the shared request list (or this node's own),
// authenticated (node-auth.ts), checked against the token's permission and rate limits, routed, sent to
// a wallet (dispatch.ts) or signed by one of the runtime's vaults, audited (a sign's entry is written
// before its answer leaves), and answered on the producer's channel — sealed under its request key once
// the request was authenticated.
import type { Redis } from 'ioredis';
import { HwayError, isHwayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { AuditFields } from '../audit/entry.js';
import { gatewaySignEntry } from '../audit/gateway-entry.js';
import type { GatewayCounters } from './counters.js';
import { dispatch, type DispatchDeps } from './dispatch.js';
import { GW_LABEL, seal } from './frame-auth.js';
import { MAX_SIGN_BYTES, bad, parseJson, parseRequest, type JsonValue, type RequestFrame, type ResponseFrame, type SignMeta } from './frames.js';
import { ANON } from './handshake.js';
import type { GwKeys } from './keys.js';
import { FrameRefused } from './node-auth.js';
import { Charge, RateLimitedError, type RateLimiter } from './ratelimit.js';
import { requestRoute } from './route-key.js';
import { listConns } from './route-store.js';
import type { Route, Router } from './router.js';
import { hex, knownDigest, provenKey, unhex } from './signatures.js';
import { requirePerm, type Perm, type TokenClaims } from './tokens.js';
import type { Verifier } from './verify.js';

/** The runtime's own vaults as signers (given by the vault runtime). */
export interface VaultSigners {
  /** The vault of `account` holding `address` (canonical spelling), or null. */
  lookup(account: string, address: string): Promise<string | null>;
  /** Signs for `account` (the producer's, already checked by the gateway). */
  sign(vaultId: string, digest32: Uint8Array, meta: SignMeta, account: string): Promise<{ signature: Uint8Array; recovery: number }>;
}

export interface RequestDeps extends DispatchDeps {
  /** The blocking connection the request lists are popped on. */
  reqConn: Redis;
  keys: GwKeys;
  nodeId: string;
  limiter: RateLimiter;
  router: Router;
  vaultSigners: VaultSigners | undefined;
  /** Signature check of raw signs (set once the gateway started). */
  verify: () => Verifier;
  audit: ((f: Omit<AuditFields, 'ts' | 'node'>) => Promise<void>) | undefined;
  requestTimeoutMs: number;
  maxConcurrent: number;
  counters: GatewayCounters;
  log: Logger;
}

const PERM: Record<RequestFrame['op'], Perm> = { has: 'read', list: 'read', miners: 'read', miner: 'read', sign: 'sign', proof: 'sign' };

const asHwayError = (e: unknown): HwayError => (isHwayError(e) ? e : new HwayError('E_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e }));

export class RequestHandler {
  private active = 0;

  constructor(private readonly d: RequestDeps) {}

  async loop(running: () => boolean): Promise<void> {
    const lists = [this.d.keys.nodeRequests(this.d.nodeId), this.d.keys.requests()];
    while (running()) {
      let res: unknown;
      try {
        res = await this.d.reqConn.call('BLMPOP', 1, lists.length, ...lists, 'LEFT', 'COUNT', 64);
      } catch {
        if (!running()) return;
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      if (!Array.isArray(res)) continue;
      for (const raw of (res as [string, string[]])[1]) void this.onRequest(raw);
    }
  }

  private async onRequest(raw: string): Promise<void> {
    const { d } = this;
    let req: RequestFrame;
    try {
      req = parseRequest(parseJson(raw));
    } catch (e) {
      d.counters.n.malformed++;
      d.log.warn('malformed producer request', { error: asHwayError(e).message });
      return;
    }
    let claims = ANON;
    let key: Uint8Array | undefined;
    if (d.auth) {
      try {
        ({ claims, requestKey: key } = await d.auth.request(req));
      } catch (e) {
        const err = asHwayError(e);
        d.counters.n.refused++;
        d.log[err instanceof FrameRefused ? 'warn' : 'debug']('producer request refused', { request: req.id, op: req.op, code: err.code, error: err.message });
        // Unsealed: there is no key for it. A producer believes an unsealed answer only when it is E_UNAUTHORIZED.
        await this.respond(req, err, undefined, undefined);
        return;
      }
    } else if (req.deadline <= Date.now()) return; // nobody waits for it any more
    const now = Date.now();
    d.counters.n.requests++;
    if (this.active >= d.maxConcurrent) {
      await this.respond(req, new HwayError('E_BUSY', 'gateway node is overloaded'), undefined, key);
      return;
    }
    this.active++;
    try {
      let value: JsonValue | undefined;
      let err: HwayError | undefined;
      try {
        value = await this.handle(req, claims, Math.min(req.deadline, now + d.requestTimeoutMs));
      } catch (e) {
        err = asHwayError(e);
      }
      // A sign's audit entry is written before its answer leaves; without it, no signature is released.
      if (req.op === 'sign' && d.auth && d.audit) {
        try {
          await d.audit(gatewaySignEntry(req, claims, err?.code ?? 'ok'));
        } catch (e) {
          [err, value] = [asHwayError(e), undefined];
        }
      }
      await this.respond(req, err, value, key);
    } finally {
      this.active--;
    }
  }

  /** Answers a producer; sealed under its request key once the request was authenticated. */
  private async respond(req: RequestFrame, err: HwayError | undefined, value: JsonValue | undefined, key: Uint8Array | undefined): Promise<void> {
    this.d.counters.outcome(err ? err.code : 'ok');
    const frame: ResponseFrame = err
      ? { id: req.id, ok: false, error: err instanceof RateLimitedError ? err.toJSON() : { code: err.code, message: err.message } }
      : { id: req.id, ok: true, value: value ?? null };
    const json = JSON.stringify(frame);
    try {
      await this.d.fast.publish(req.reply, key ? seal(key, GW_LABEL.response, req.id, json) : json);
    } catch (e) {
      this.d.log.warn('could not answer producer', { request: req.id, error: asHwayError(e).message });
    }
  }

  private async handle(req: RequestFrame, claims: TokenClaims, deadline: number): Promise<JsonValue> {
    const { d } = this;
    requirePerm(claims, PERM[req.op]);
    const a = req.args;
    const rk = requestRoute(req, claims.account);
    const route = rk ? d.router.lookup(rk) : undefined;
    route?.catch(() => undefined);
    const charge = new Charge(d.limiter, claims);
    // Requests that go to a wallet are charged in the same script that hands them to the wallet (one
    // round trip instead of two); every other request is charged here, overlapping the route lookup.
    if (req.op !== 'sign' && req.op !== 'proof') await charge.take();
    switch (req.op) {
      case 'has': {
        const r = await route!;
        return r.vault !== null || (await d.wallets.live(r.conns)).length > 0;
      }
      case 'sign': {
        if (typeof a.bytes !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(a.bytes) || a.bytes.length > MAX_SIGN_BYTES * 2) throw bad('bytes must be lowercase hex');
        const meta = a.meta as { type?: unknown; extra?: JsonValue } | null;
        if (typeof meta !== 'object' || meta === null || typeof meta.type !== 'string' || !/^[a-z0-9_-]{1,32}$/.test(meta.type)) throw bad('meta.type must be a short lowercase name');
        const m: SignMeta = { type: meta.type };
        if (meta.extra !== undefined) m.extra = meta.extra;
        if (m.type === 'raw' && a.bytes.length !== 64) throw bad('a raw sign takes a 32-byte digest');
        return this.sign(claims.account, String(a.address), await route!, a.bytes, m, deadline, charge);
      }
      case 'proof': {
        if (typeof a.randomness !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(a.randomness)) throw bad('randomness must be lowercase hex');
        const randomness = a.randomness;
        const frame = (id: string, c: { announced: string }) => ({ t: 'proof' as const, id, reply: d.keys.toNode(d.nodeId), miner: c.announced, sectorInfos: a.sectorInfos ?? null, randomness, deadline });
        return dispatch(d, claims.account, await route!, deadline, frame, async (r) => {
          d.counters.n.proofs++;
          return r.value ?? null;
        }, `miner ${String(a.miner)}`, charge);
      }
      case 'miner': {
        const live = await d.wallets.live((await route!).conns);
        return { miner: String(a.miner), connections: live.map((l) => ({ id: l.conn.conn, inFlight: l.inFlight })) };
      }
      case 'list':
        return listConns(d.fast, d.keys, claims.account, 'wallet');
      case 'miners': {
        const conns = await listConns(d.fast, d.keys, claims.account, 'proof');
        return [...new Set(conns.flatMap((c) => c.targets))].sort();
      }
    }
  }

  private async sign(account: string, address: string, route: Route, bytes: string, meta: SignMeta, deadline: number, charge: Charge): Promise<JsonValue> {
    const { d } = this;
    if (route.conns.length === 0 && route.vault !== null && d.vaultSigners) {
      await charge.take();
      return this.signWithVault(account, address, route.vault, bytes, meta);
    }
    // The schemes whose digest the gateway knows are checked; a wallet-defined type is passed through.
    const digest = knownDigest(unhex(bytes), meta.type, meta.extra);
    const frame = (id: string, c: { announced: string }) => ({ t: 'sign' as const, id, reply: d.keys.toNode(d.nodeId), address: c.announced, bytes, meta, deadline });
    return dispatch(d, account, route, deadline, frame, async (r, c) => {
      if (r.signature === undefined || r.recovery === undefined) throw new HwayError('E_INTERNAL', 'wallet answered without a signature');
      // A wallet that answers garbage is a failed attempt: the next wallet is tried.
      if (digest && c.publicKey && !(await d.verify()(c.publicKey, digest, unhex(r.signature)))) {
        throw new HwayError('E_INTERNAL', 'wallet returned a signature that does not verify');
      }
      d.counters.n.signed++;
      return { signature: r.signature, recovery: r.recovery, via: c.conn };
    }, `address ${address}`, charge);
  }

  private async signWithVault(account: string, address: string, vaultId: string, bytes: string, meta: SignMeta): Promise<JsonValue> {
    const { d } = this;
    const digest = knownDigest(unhex(bytes), meta.type, meta.extra);
    if (!digest) throw bad(`a vault signs meta.type raw, sha256, keccak256, eth-personal or venus-<MsgType>, not "${meta.type}"`);
    const r = await d.vaultSigners!.sign(vaultId, digest, meta, account);
    const sig = r.signature;
    if (sig.length !== 64 || !provenKey(digest, address, hex(sig), r.recovery)) throw new HwayError('E_INTERNAL', `vault ${vaultId} returned a signature that does not match ${address}`);
    d.counters.n.signed++;
    d.log.debug('signed by vault', { account, vault: vaultId });
    return { signature: hex(sig), recovery: r.recovery, via: `vault:${vaultId}` };
  }
}
