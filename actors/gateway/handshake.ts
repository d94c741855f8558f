// The handshake of a wallet or proof-worker connection, frame by frame, as its WalletActor runs it
// (wallet-actor.ts): hello → challenge → prove → welcome, later rounds adding addresses (add → …),
// removing some (remove), and leaving (bye). The frames come from the hello stream, read by the node
// group: the frames of one connection may reach different nodes, so every step's state is in Redis
// (a challenge record, the connection's record) and the actor keeps only its stage.
//
// A wallet proves each address by signing sha256(gatewayNonce ‖ walletNonce …) (frame-auth.ts
// challengeDigest) with its key; only then is the address routed to it. With auth on, every answer is
// sealed under a frame key (node-auth.ts): round 0's derived from the wallet's JWT and the round's
// nonces, later rounds' the connection's.
import type { Redis } from 'ioredis';
import { HwayError, isHwayError, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../log.js';
import { parseAddress } from '../../enclaves/addresses.js';
import type { GatewayCounters } from './counters.js';
import { GW_LABEL, challengeDigest, frameKey, unseal, verifySealed, type Sealed } from './frame-auth.js';
import { MINER_RE, bad, connIdOf, parseConnFrame, parseJson, type ConnFrame, type ToWalletFrame, type WalletKind } from './frames.js';
import type { GwKeys } from './keys.js';
import type { ConnAuthRecord, NodeAuth } from './node-auth.js';
import type { ConnRegistry, RouteEntry, ToWallet } from './registry.js';
import { addressRoute, minerRoute } from './route-key.js';
import { freshNonce, hex, provenKey, routeTargets, unhex } from './signatures.js';
import { requirePerm, type TokenClaims } from './tokens.js';
import type { Transition } from './wallet-actor.js';

/** Claims of every frame when auth is off: one account, every permission. */
export const ANON: TokenClaims = { account: 'default', perm: 'admin', jti: 'anonymous', exp: Number.MAX_SAFE_INTEGER };

interface NonceRecord {
  g: string;
  w: string;
  account: string;
  kind: WalletKind;
  targets: string[];
  mode: 'new' | 'add';
  /** The wallet's JWT (auth on): round 0's frame key is derived from it and the nonces. */
  j?: string;
}

/** What a handshake frame's handler learned that its error answer needs (auth on). */
interface HandshakeCtx {
  /** The key to seal answers under. */
  fk?: Uint8Array;
  /** Round 0's gatewayNonce (hex), named in round-0 answers so that the wallet can derive fk. */
  g?: string;
}

export interface HandshakeDeps {
  cmd: Redis;
  keys: GwKeys;
  auth: NodeAuth | undefined;
  registry: ConnRegistry;
  heartbeatMs: number;
  challengeTtlMs: number;
  counters: GatewayCounters;
  log: Logger;
  toWallet: ToWallet;
}

const asHwayError = (e: unknown): HwayError => (isHwayError(e) ? e : new HwayError('E_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e }));

/** A challenge record read back from Redis (which anyone may have written): malformed is no challenge. */
function parseNonceRecord(raw: string): NonceRecord {
  const HEX32 = /^[0-9a-f]{64}$/;
  try {
    const r = JSON.parse(raw) as NonceRecord;
    const targetsOk = Array.isArray(r.targets) && r.targets.every((t) => typeof t === 'string');
    if (HEX32.test(r.g) && HEX32.test(r.w) && typeof r.account === 'string' && targetsOk && (r.mode === 'new' || r.mode === 'add')) return r;
  } catch {
    // below
  }
  throw new HwayError('E_UNAUTHORIZED', 'the pending challenge is malformed', { permanent: true });
}

export class Handshakes {
  constructor(private readonly d: HandshakeDeps) {}

  /** One entry of the hello stream as a frame; a malformed one is counted, answered and dropped here. */
  async read(raw: string): Promise<{ frame: ConnFrame; sealed: Sealed | null } | undefined> {
    let parsedJson: unknown;
    // A proof comes sealed under the connection's frame key (auth on); onProve checks the seal.
    const sealed = unseal(raw);
    try {
      parsedJson = parseJson(sealed ? sealed.json : raw);
      return { frame: parseConnFrame(parsedJson), sealed };
    } catch (e) {
      this.d.counters.n.malformed++;
      const conn = connIdOf(parsedJson);
      this.d.log.warn('malformed connection frame', { conn: conn ?? '-', error: asHwayError(e).message });
      if (conn) await this.d.toWallet(conn, { t: 'error', code: 'E_BAD_INPUT', message: asHwayError(e).message }, this.d.auth?.peek(conn)).catch(() => undefined);
      return undefined;
    }
  }

  /** Runs one frame of a connection; a refusal is answered to the wallet (never thrown) and changes nothing. */
  async run(frame: ConnFrame, sealed: Sealed | null): Promise<Transition> {
    const ctx: HandshakeCtx = {};
    try {
      switch (frame.t) {
        case 'hello':
        case 'add':
          return await this.onHello(frame, ctx);
        case 'prove':
          return await this.onProve(frame, sealed, ctx);
        case 'remove':
          await this.d.registry.unroute(frame.conn, frame.targets);
          return { stage: 'unchanged' };
        case 'bye':
          await this.d.registry.unregister(frame.conn, 'bye');
          return { stage: 'closed' };
      }
    } catch (e) {
      const err = asHwayError(e);
      this.d.counters.n.refused++;
      this.d.log.warn('connection frame refused', { conn: frame.conn, frame: frame.t, code: err.code, error: err.message });
      const f: ToWalletFrame = { t: 'error', code: err.code, message: err.message };
      if (frame.t === 'add' || frame.t === 'prove') f.round = frame.round;
      if (frame.t === 'hello') f.round = 0;
      if (ctx.g !== undefined && f.round === 0) f.gatewayNonce = ctx.g;
      // Unsealed when the sender could not be authenticated: the wallet believes only E_UNAUTHORIZED then.
      await this.d.toWallet(frame.conn, f, ctx.fk ?? this.d.auth?.peek(frame.conn)).catch((e2: unknown) =>
        this.d.log.debug('could not answer a refused frame', { conn: frame.conn, error: asHwayError(e2).message }),
      );
      return { stage: 'unchanged' };
    }
  }

  private async onHello(f: Extract<ConnFrame, { t: 'hello' | 'add' }>, ctx: HandshakeCtx): Promise<Transition> {
    const { d } = this;
    const a = d.auth ? await d.auth.hello(f) : undefined;
    const claims = a?.claims ?? ANON;
    const round = f.t === 'hello' ? 0 : f.round;
    const mode = f.t === 'hello' ? 'new' : 'add';
    const gatewayNonce = freshNonce();
    const g = hex(gatewayNonce);
    // Authenticated: every answer from here on is sealed — round 0 under the key this nonce makes
    // (named in the answer), later rounds under the connection's.
    const authRec: ConnAuthRecord | undefined = a && round === 0 ? { j: f.jwt!, w: f.nonce, g } : undefined;
    if (a && round === 0) Object.assign(ctx, { g, fk: frameKey(a.requestKey, f.conn, unhex(f.nonce), gatewayNonce) });
    else if (a) ctx.fk = await d.auth!.frameKey(f.conn, claims.account);
    requirePerm(claims, 'sign');
    if (f.targets.length === 0) throw bad('no addresses or miners announced');
    if (f.kind === 'proof') {
      for (const m of f.targets) if (!MINER_RE.test(m)) throw bad(`"${m}" is not a miner id (f0…/t0…)`);
      // A miner id has no key to prove: the token's account is the authority.
      const routes: RouteEntry[] = f.targets.map((m) => ({ route: minerRoute(claims.account, m), info: { a: m } }));
      await d.registry.register(f.conn, claims.account, 'proof', mode, routes, authRec, ctx.fk);
      d.counters.n.handshakes++;
      const welcome: ToWalletFrame = { t: 'welcome', round, account: claims.account, accepted: f.targets, refused: [], heartbeatMs: d.heartbeatMs };
      await d.toWallet(f.conn, authRec ? { ...welcome, gatewayNonce: g } : welcome, ctx.fk);
      return { stage: 'connected', account: claims.account, registered: mode };
    }
    for (const t of f.targets) parseAddress(t); // E_BAD_INPUT before any state is created
    const rec: NonceRecord = { g, w: f.nonce, account: claims.account, kind: 'wallet', targets: f.targets, mode, ...(a ? { j: f.jwt! } : {}) };
    // One challenge per (connection, round), never overwritten, consumed once (GETDEL in onProve).
    const ok = await d.cmd.set(d.keys.nonce(f.conn, round), JSON.stringify(rec), 'PX', d.challengeTtlMs, 'NX');
    if (ok !== 'OK') throw new HwayError('E_FORBIDDEN', 'this connection round already has a challenge', { permanent: true });
    await d.toWallet(f.conn, { t: 'challenge', round, gatewayNonce: g, account: claims.account }, ctx.fk);
    return { stage: 'challenged', round, account: claims.account };
  }

  private async onProve(f: Extract<ConnFrame, { t: 'prove' }>, sealed: Sealed | null, ctx: HandshakeCtx): Promise<Transition> {
    const { d } = this;
    const raw = (await d.cmd.call('GETDEL', d.keys.nonce(f.conn, f.round))) as string | null;
    if (!raw) throw new HwayError('E_UNAUTHORIZED', 'no pending challenge for this connection (expired or already used)', { permanent: true });
    const rec = parseNonceRecord(raw);
    if (d.auth) {
      // The proof must come from the holder of the frame key: round 0's from this challenge's record
      // (whose JWT must be of the account), a later round's the connection's.
      ctx.fk = rec.mode === 'new' ? await d.auth.derive(f.conn, { j: rec.j ?? '', w: rec.w, g: rec.g }, rec.account) : await d.auth.frameKey(f.conn, rec.account);
      if (!sealed || !verifySealed(ctx.fk, GW_LABEL.walletReply, f.conn, sealed)) throw new HwayError('E_UNAUTHORIZED', "the proof is not sealed under the connection's key", { permanent: true });
    }
    const digest = challengeDigest(f.conn, rec.account, unhex(rec.g), unhex(rec.w));
    const accepted: string[] = [];
    const refused: Array<{ target: string; code: ErrorCode; message: string }> = [];
    const routes: RouteEntry[] = [];
    for (const address of rec.targets) {
      const proof = f.proofs.find((p) => p.address === address);
      if (!proof) {
        refused.push({ target: address, code: 'E_FORBIDDEN', message: 'no proof of possession sent' });
        continue;
      }
      const pk = provenKey(digest, address, proof.signature, proof.recovery);
      if (!pk) {
        refused.push({ target: address, code: 'E_FORBIDDEN', message: 'signature does not prove possession of the key of this address' });
        continue;
      }
      accepted.push(address);
      for (const t of routeTargets(pk)) routes.push({ route: addressRoute(rec.account, t), info: { a: address, pk: hex(pk) } });
    }
    d.counters.n.refused += refused.length;
    if (refused.length) d.log.warn('address claims refused', { conn: f.conn, account: rec.account, refused: refused.map((r) => r.target) });
    if (accepted.length === 0 && rec.mode === 'new') {
      throw new HwayError('E_FORBIDDEN', `no announced address was proven (${refused.map((r) => r.target).join(', ')})`, { permanent: true });
    }
    const authRec = ctx.fk && rec.mode === 'new' ? { j: rec.j!, w: rec.w, g: rec.g } : undefined;
    if (routes.length) await d.registry.register(f.conn, rec.account, 'wallet', rec.mode, routes, authRec, ctx.fk);
    d.counters.n.handshakes++;
    d.log.info('wallet connected', { conn: f.conn, account: rec.account, addresses: accepted, round: f.round });
    await d.toWallet(f.conn, { t: 'welcome', round: f.round, account: rec.account, accepted, refused, heartbeatMs: d.heartbeatMs }, ctx.fk);
    return { stage: 'connected', account: rec.account, ...(routes.length ? { registered: rec.mode } : {}) };
  }
}
