// WalletActor(conn): one per wallet or proof-worker connection this node deals with, the only place
// where this node's state of that connection lives and changes. nact delivers its messages one at a
// time, so the frames of one connection (hello, prove, add, remove, bye), the requests sent to it, its
// answers, their timeouts and its eviction never interleave.
//
// What it owns:
// - the handshake stage: new → challenged (a challenge of this node waits for its proof) → connected →
//   closed; `held` once this node registered the connection (it holds it: its record names this node);
// - the requests this node has in flight there, each with its attempt deadline (a timer that comes
//   back as a message), its frame key, and the cancel frame sent when the deadline passes;
// - liveness as this node sees it: a request that finds nobody listening on the channel evicts the
//   connection at once; heartbeats lapsed in Redis are found by the shared sweep (registry.ts), which
//   hands the eviction to this actor, and a connection evicted anywhere stops its actors on every node
//   (route event "down"), failing what they had in flight over to the next wallet.
// Its queue is bounded by its supervisor (wallet-supervisor.ts), which counts its requests in flight.
//
// The handler never throws on what a wallet or Redis sends: a malformed or forged answer is logged and
// dropped (or fails its attempt), a refused handshake frame is answered with an error frame. A throw is
// therefore a bug, and the supervision policy drops the connection cleanly (see wallet-supervisor.ts).
import { HwayError, isHwayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { send, type ActorRef } from '../system.js';
import { GW_LABEL, verifySealed, type Sealed } from './frame-auth.js';
import type { ConnFrame, WalletReply } from './frames.js';

export type OkReply = WalletReply & { ok: true };
export type Stage = 'new' | 'challenged' | 'connected' | 'closed';
/** Sends one frame on the connection's channel; resolves to the number of listeners that got it. */
export type Publish = (channel: string, message: string) => Promise<number>;

/** What a handshake frame did to the connection (handshake.ts reports it; refusals change nothing). */
export type Transition =
  | { stage: 'challenged'; round: number; account: string }
  | { stage: 'connected'; account: string; registered?: 'new' | 'add' }
  | { stage: 'closed' }
  | { stage: 'unchanged' };

interface InFlight {
  /** The connection's frame key (auth on): the answer must be sealed under it. */
  fk: Uint8Array | undefined;
  resolve: (r: OkReply) => void;
  reject: (e: HwayError) => void;
  timer: NodeJS.Timeout;
}

export interface WalletState {
  stage: Stage;
  /** The round of the last challenge this node issued. */
  round: number;
  /** This node registered the connection: its record names this node as the holder. */
  held: boolean;
  account: string | undefined;
  pending: Map<string, InFlight>;
}

export interface SendRequest {
  id: string;
  /** The request frame as it goes on the wire (sealed under `fk` when auth is on). */
  wire: string;
  fk: Uint8Array | undefined;
  /** How long this attempt may wait for the wallet's answer. */
  timeoutMs: number;
  publish: Publish;
}

export type WalletMsg =
  | { t: 'frame'; frame: ConnFrame; sealed: Sealed | null; done: () => void }
  | ({ t: 'send'; resolve: (r: OkReply) => void; reject: (e: HwayError) => void } & SendRequest)
  | { t: 'unheard'; id: string }
  | { t: 'send-failed'; id: string; error: HwayError }
  | { t: 'reply'; reply: WalletReply; sealed: Sealed | null }
  | { t: 'malformed'; id: string; sealed: Sealed | null }
  | { t: 'timeout'; id: string; ms: number }
  | { t: 'evict'; reason: string; done: () => void };

export interface WalletDeps {
  /** The connection's channel (node → wallet). */
  channel(conn: string): string;
  /** Runs a handshake frame; refusals are answered to the wallet there, never thrown. */
  handshake(conn: string, frame: ConnFrame, sealed: Sealed | null): Promise<Transition>;
  /** Removes the connection from routing everywhere (registry.ts unregister). */
  evict(conn: string, reason: string): Promise<void>;
  /** Tells the wallet to stop working on a request (best effort). */
  cancel(conn: string, id: string, fk: Uint8Array | undefined): void;
  /** A wallet answer refused because it was not sealed under the connection's key. */
  refusedAnswer(): void;
  /** Reports the stage after each frame or eviction to the supervisor (which stops actors that hold nothing). */
  staged(conn: string, self: ActorRef<WalletMsg>, stage: Stage, held: boolean): void;
  log: Logger;
}

/**
 * Test hook (spec/gateway-supervision.test.ts only): when set, a wallet actor calls it before each
 * message it handles, and what it throws crashes that actor. Nothing a wallet or Redis sends makes the
 * handler throw (see above), so in production only a bug could crash one; this is how a test makes
 * such a crash, to exercise the supervision path a bug would take. Never set outside tests.
 */
export const walletActorTestHook: { beforeMessage?: (conn: string, kind: WalletMsg['t']) => void } = {};

export const initialWalletState = (): WalletState => ({ stage: 'new', round: -1, held: false, account: undefined, pending: new Map() });

const asHwayError = (e: unknown): HwayError => (isHwayError(e) ? e : new HwayError('E_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e }));

/** State is changed in place: what a crashed handler had registered is still there for afterStop. */
export async function handleWalletMsg(deps: WalletDeps, conn: string, s: WalletState, msg: WalletMsg, self: ActorRef<WalletMsg>): Promise<WalletState> {
  walletActorTestHook.beforeMessage?.(conn, msg.t);
  switch (msg.t) {
    case 'frame': {
      try {
        const next = await deps.handshake(conn, msg.frame, msg.sealed);
        if (next.stage !== 'unchanged') s.stage = next.stage;
        if (next.stage === 'challenged') [s.round, s.account] = [next.round, next.account];
        if (next.stage === 'connected') {
          s.account = next.account;
          if (next.registered === 'new') s.held = true;
        }
        deps.staged(conn, self, s.stage, s.held);
      } finally {
        msg.done();
      }
      return s;
    }
    case 'send': {
      const { id } = msg;
      const timer = setTimeout(() => send(self, { t: 'timeout', id, ms: msg.timeoutMs }), msg.timeoutMs);
      s.pending.set(id, { fk: msg.fk, resolve: msg.resolve, reject: msg.reject, timer });
      // The publish's outcome comes back as a message (the actor never waits on Redis for a request),
      // only when it matters: nobody listened, or it failed.
      msg.publish(deps.channel(conn), msg.wire).then(
        (receivers) => {
          if (receivers === 0) send(self, { t: 'unheard', id });
        },
        (e: unknown) => send(self, { t: 'send-failed', id, error: asHwayError(e) }),
      );
      return s;
    }
    case 'unheard': {
      // Nobody listens on the wallet's channel (a shard channel's count is the whole count, on one Redis
      // and on a cluster: wallet-channel.ts): it is gone. Evict it, and the request tries the next one.
      settle(s, msg.id, new HwayError('E_NO_WALLET', 'wallet is not connected'));
      void deps.evict(conn, 'disconnected').catch((e: unknown) => deps.log.debug('eviction failed', { conn, error: asHwayError(e).message }));
      return s;
    }
    case 'send-failed':
      settle(s, msg.id, msg.error);
      return s;
    case 'reply': {
      const r = msg.reply;
      const p = s.pending.get(r.id);
      if (!p) return s; // late (timed out, failed over) or never asked: nothing waits for it
      // Sealed under the connection's frame key (auth on): only the wallet that was asked can answer.
      if (!genuine(p, conn, msg.sealed)) {
        deps.refusedAnswer();
        deps.log.warn("refused a wallet answer not sealed under its connection's key", { conn, request: r.id });
        return s;
      }
      if (r.ok) settle(s, r.id, r);
      else settle(s, r.id, new HwayError(r.code, r.message));
      return s;
    }
    case 'malformed': {
      // A malformed answer to a pending request fails that attempt at once (next wallet).
      const p = s.pending.get(msg.id);
      if (p && genuine(p, conn, msg.sealed)) settle(s, msg.id, new HwayError('E_INTERNAL', 'wallet sent a malformed answer'));
      return s;
    }
    case 'timeout': {
      const p = s.pending.get(msg.id);
      if (!p) return s;
      // Tell the wallet to stop working on it; the answer, if any, is ignored.
      deps.cancel(conn, msg.id, p.fk);
      settle(s, msg.id, new HwayError('E_TIMEOUT', `wallet did not answer within ${msg.ms} ms`));
      return s;
    }
    case 'evict': {
      try {
        await deps.evict(conn, msg.reason);
      } catch (e) {
        deps.log.warn('eviction failed', { conn, reason: msg.reason, error: asHwayError(e).message });
      } finally {
        deps.staged(conn, self, s.stage, s.held);
        msg.done();
      }
      return s;
    }
  }
}

function genuine(p: InFlight, conn: string, sealed: Sealed | null): boolean {
  return !p.fk || (sealed !== null && verifySealed(p.fk, GW_LABEL.walletReply, conn, sealed));
}

function settle(s: WalletState, id: string, outcome: OkReply | HwayError): void {
  const p = s.pending.get(id);
  if (!p) return;
  clearTimeout(p.timer);
  s.pending.delete(id);
  if (outcome instanceof HwayError) p.reject(outcome);
  else p.resolve(outcome);
}

/** Answers a message that will never be handled (its actor crashed or stopped) so that nobody waits. */
export function failWalletMsg(msg: WalletMsg | undefined, why: HwayError): void {
  if (msg === undefined) return;
  if (msg.t === 'send') msg.reject(why);
  else if (msg.t === 'frame' || msg.t === 'evict') msg.done();
}

/** The end of an actor: every request it had in flight fails with `why` (E_NO_WALLET fails over). */
export function closeWalletState(s: WalletState | undefined, waiting: WalletMsg[], why: HwayError): void {
  for (const id of [...(s?.pending.keys() ?? [])]) settle(s!, id, why);
  for (const m of waiting) failWalletMsg(m, why);
}
