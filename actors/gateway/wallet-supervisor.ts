// WalletSupervisor: the parent of this node's wallet actors (wallet-actor.ts), in the node's actor
// system. It spawns WalletActor(conn) on the first message for a connection, routes messages to it
// (except a request's attempt and the wallet's answer to it, which go to the actor directly: see
// send), bounds its queue by counting its requests in flight, picks the connection a request goes
// to, and applies the supervision policy.
//
//   system ── gw-wallets (WalletSupervisor) ── WalletActor(conn)…
//
// "Fewest in flight" is counted per node, here, and not across the cluster: a cluster-wide count would
// be a Redis round trip (read every candidate's count, then increment the chosen one's) on every
// attempt, before the publish, which the request path cannot afford (bench/gateway.ts measures its
// overhead), and counts left by a node that died would need their own cleanup. Producers' requests are
// spread over the nodes (one shared list, popped by any), so each node balancing its own share
// balances the whole; at worst a wallet holds up to maxInFlightPerWallet from each node, and its own
// bounded queue answers E_WALLET_BUSY beyond that (README, "Balancing").
//
// Policy, explicitly: an actor that crashes is stopped, never reset, and its connection is dropped
// cleanly: the requests it had in flight, and those waiting for it, fail with E_NO_WALLET (which fails
// each over to the next wallet serving its address), the connection leaves routing on this node at
// once, and its routes are removed from Redis for every node; the wallet is told it was evicted and
// reconnects with a new connection (a reset could not be trusted with a half-changed connection).
// Actors that hold nothing (no connection registered here, nothing in flight) are stopped when idle,
// or at once after a handshake frame that left them so.
import { HwayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { logCrash, send, spawnActor, stopActor, type ActorContext, type ActorRef, type SystemRef } from '../system.js';
import type { Sealed } from './frame-auth.js';
import type { ConnFrame, WalletReply } from './frames.js';
import type { RouteConn } from './router.js';
import { closeWalletState, failWalletMsg, handleWalletMsg, initialWalletState, type OkReply, type SendRequest, type Stage, type WalletDeps, type WalletMsg, type WalletState } from './wallet-actor.js';

export interface WalletSupervisorOptions {
  system: SystemRef;
  deps: Omit<WalletDeps, 'staged'>;
  /** Requests in flight per connection on this node beyond which it is skipped (busy). */
  maxInFlightPerWallet: number;
  /** Idle time after which an actor that holds nothing is stopped. */
  idleMs: number;
  /** Drops the connection of a crashed actor: unregisters its routes (registry.ts unregister). */
  drop: (conn: string, reason: string) => Promise<void>;
  log: Logger;
}

/** A connection chosen for one attempt; its slot is taken until the attempt is sent and done, or released. */
export interface Ticket {
  conn: RouteConn;
  ref: ActorRef<WalletMsg>;
}

export interface Picked {
  ticket?: Ticket;
  /** Some connection was skipped because it was full. */
  busy: boolean;
}

type SupMsg =
  | { k: 'frame'; conn: string; frame: ConnFrame; sealed: Sealed | null; done: () => void }
  | { k: 'evict'; conn: string; reason: string; done: () => void }
  | { k: 'pick'; conns: RouteConn[]; tried: ReadonlySet<string>; reply: (p: Picked) => void }
  | { k: 'done'; ticket: Ticket }
  | { k: 'reply'; reply: WalletReply; sealed: Sealed | null }
  | { k: 'malformed'; conn: string; id: string; sealed: Sealed | null }
  | { k: 'down'; conn: string }
  | { k: 'staged'; conn: string; ref: ActorRef<WalletMsg>; stage: Stage; held: boolean }
  | { k: 'crashed'; conn: string; ref: ActorRef<WalletMsg> }
  | { k: 'live'; conns: RouteConn[]; reply: (l: Array<{ conn: RouteConn; inFlight: number }>) => void }
  | { k: 'held'; reply: (conns: string[]) => void }
  | { k: 'sweep' };

interface Child {
  ref: ActorRef<WalletMsg>;
  inflight: number;
  /** Handshake frames and evictions sent to it and not yet reported done ('staged'). */
  frames: number;
  lastActive: number;
  held: boolean;
}

interface SupState {
  children: Map<string, Child>;
  /** Connections known to be gone: never picked again, whatever a cached route still says. */
  down: Set<string>;
  /** Names actors uniquely: nact names allow no ':' (connection ids may hold one), nor reuse. */
  spawned: number;
}

const MAX_DOWN = 10_000;

export class WalletSupervisor {
  private readonly ref: ActorRef<SupMsg>;
  private readonly log: Logger;
  private readonly deps: WalletDeps;
  /**
   * Actors the crash policy stopped. nact drops messages sent to a stopped actor without a word, so the
   * policy marks the ref here synchronously, before the supervisor can route another message to it.
   */
  private readonly dead = new WeakSet<ActorRef<WalletMsg>>();
  /** Why an actor is being stopped: what its in-flight requests fail with (default E_CLOSED). */
  private readonly why = new WeakMap<ActorRef<WalletMsg>, HwayError>();
  /** The actor each attempt in flight was sent to, by request id: its answer goes straight there. */
  private readonly sentTo = new Map<string, { conn: string; ref: ActorRef<WalletMsg> }>();
  /** Attempts in flight on this node (a mirror of the children's counts, for the synchronous stats). */
  private total = 0;
  private stopped = false;

  constructor(private readonly opts: WalletSupervisorOptions) {
    this.log = opts.log;
    this.deps = { ...opts.deps, staged: (conn, ref, stage, held) => send(this.ref, { k: 'staged', conn, ref, stage, held }) };
    this.ref = spawnActor<SupState, SupMsg>(opts.system, 'gw-wallets', (state, msg, ctx) => this.handle(state, msg, ctx), {
      initialState: () => ({ children: new Map(), down: new Set(), spawned: 0 }),
      // The supervisor's own handler only moves messages; if it ever throws, keep its children.
      onCrash: (msg, err) => {
        logCrash(this.log, 'wallet-supervisor', err);
        failSupMsg(msg, new HwayError('E_INTERNAL', 'the wallet supervisor failed on this message'));
        return 'resume';
      },
      afterStop: (_state, pending) => {
        for (const m of pending) failSupMsg(m, new HwayError('E_CLOSED', 'gateway node is stopping'));
      },
    });
  }

  /** Runs a handshake frame in its connection's actor; resolves once it was handled. */
  frame(conn: string, frame: ConnFrame, sealed: Sealed | null): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((done) => send(this.ref, { k: 'frame', conn, frame, sealed, done }));
  }

  /** Has the connection's actor evict it (its heartbeats lapsed, or nobody listens on its channel). */
  evict(conn: string, reason: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((done) => send(this.ref, { k: 'evict', conn, reason, done }));
  }

  /** Healthy, not yet tried, not full; fewest in flight first, then the smallest id (routes are sorted). */
  pick(conns: RouteConn[], tried: ReadonlySet<string>): Promise<Picked> {
    if (this.stopped) return Promise.reject(new HwayError('E_CLOSED', 'gateway node is stopping'));
    return new Promise((reply) => send(this.ref, { k: 'pick', conns, tried, reply }));
  }

  /**
   * Sends one attempt to the ticket's actor; settles with the wallet's answer or why there is none.
   * Straight to the actor, not through this supervisor's mailbox: it is on every sign's path, and
   * each hop there costs a loop turn. That is safe because every way a wallet actor stops marks its
   * ref first, synchronously (stopChild, the crash policy): an actor not marked now has not stopped,
   * so it takes this message, or its afterStop fails it.
   */
  send(ticket: Ticket, req: SendRequest): Promise<OkReply> {
    if (this.stopped) {
      this.total--;
      return Promise.reject(new HwayError('E_CLOSED', 'gateway node is stopping'));
    }
    if (this.stopping(ticket.ref)) {
      // Its actor stopped between the pick and the send: the connection is gone (or dropped).
      this.total--;
      return Promise.reject(new HwayError('E_NO_WALLET', 'wallet disconnected'));
    }
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        this.sentTo.delete(req.id);
        send(this.ref, { k: 'done', ticket });
      };
      this.sentTo.set(req.id, { conn: ticket.conn.conn, ref: ticket.ref });
      send(ticket.ref, {
        t: 'send',
        ...req,
        resolve: (r) => {
          resolve(r);
          finish();
        },
        reject: (e) => {
          reject(e);
          finish();
        },
      });
    });
  }

  /** Gives back a ticket that was not sent. */
  release(ticket: Ticket): void {
    if (this.stopped) this.total--;
    else send(this.ref, { k: 'done', ticket });
  }

  /**
   * A wallet's answer: straight to the actor that sent the request when the answer names that
   * request's connection (and the actor has not stopped: see send); any other answer through the
   * supervisor, which routes by connection and drops what nobody there asked for.
   */
  reply(reply: WalletReply, sealed: Sealed | null): void {
    if (this.stopped) return;
    const to = this.sentTo.get(reply.id);
    if (to !== undefined && to.conn === reply.conn && !this.stopping(to.ref)) send(to.ref, { t: 'reply', reply, sealed });
    else send(this.ref, { k: 'reply', reply, sealed });
  }

  malformed(conn: string, id: string, sealed: Sealed | null): void {
    if (!this.stopped) send(this.ref, { k: 'malformed', conn, id, sealed });
  }

  /** The connection was removed from routing (anywhere): stop its actor, fail its requests over. */
  down(conn: string): void {
    if (!this.stopped) send(this.ref, { k: 'down', conn });
  }

  /** The connections of a route that are not known to be gone, with this node's requests in flight on each. */
  live(conns: RouteConn[]): Promise<Array<{ conn: RouteConn; inFlight: number }>> {
    if (this.stopped) return Promise.reject(new HwayError('E_CLOSED', 'gateway node is stopping'));
    return new Promise((reply) => send(this.ref, { k: 'live', conns, reply }));
  }

  /** The connections this node holds (registered here). */
  held(): Promise<string[]> {
    if (this.stopped) return Promise.resolve([]);
    return new Promise((reply) => send(this.ref, { k: 'held', reply }));
  }

  /** Stops actors that hold nothing and were idle for idleMs (called on the gateway's heartbeat). */
  sweep(): void {
    if (!this.stopped) send(this.ref, { k: 'sweep' });
  }

  inFlight(): number {
    return this.total;
  }

  /** Stops every wallet actor (their requests fail with E_CLOSED) and the supervisor. */
  stop(): void {
    this.stopped = true;
    stopActor(this.ref); // nact stops the children too; each afterStop fails what it had
  }

  private handle(state: SupState, msg: SupMsg, ctx: ActorContext<SupMsg>): SupState {
    const now = Date.now();
    const alive = (conn: string): Child | undefined => {
      const c = state.children.get(conn);
      return c !== undefined && !this.dead.has(c.ref) ? c : undefined;
    };
    const ensure = (conn: string): Child => {
      let child = alive(conn);
      if (child === undefined) {
        child = { ref: this.spawn(conn, state, ctx), inflight: 0, frames: 0, lastActive: now, held: false };
        state.children.set(conn, child);
      }
      child.lastActive = now;
      return child;
    };
    switch (msg.k) {
      case 'frame': {
        const child = ensure(msg.conn);
        child.frames++;
        send(child.ref, { t: 'frame', frame: msg.frame, sealed: msg.sealed, done: msg.done });
        return state;
      }
      case 'evict': {
        const child = ensure(msg.conn);
        child.frames++;
        send(child.ref, { t: 'evict', reason: msg.reason, done: msg.done });
        return state;
      }
      case 'pick': {
        let best: RouteConn | undefined;
        let bestLoad = Infinity;
        let busy = false;
        for (const c of msg.conns) {
          if (msg.tried.has(c.conn) || state.down.has(c.conn)) continue;
          const load = alive(c.conn)?.inflight ?? 0;
          if (load >= this.opts.maxInFlightPerWallet) {
            busy = true;
            continue;
          }
          if (load < bestLoad) [best, bestLoad] = [c, load];
        }
        if (best === undefined) {
          msg.reply({ busy });
          return state;
        }
        const child = ensure(best.conn);
        child.inflight++;
        this.total++;
        msg.reply({ ticket: { conn: best, ref: child.ref }, busy });
        return state;
      }
      case 'done': {
        this.total--;
        const child = state.children.get(msg.ticket.conn.conn);
        if (child !== undefined && child.ref === msg.ticket.ref) {
          child.inflight--;
          child.lastActive = now;
        }
        return state;
      }
      case 'reply':
      case 'malformed': {
        // Answers go only to an actor that exists (one that sent a request); nothing is spawned for them.
        const conn = msg.k === 'reply' ? msg.reply.conn : msg.conn;
        const child = alive(conn);
        if (child === undefined) return state;
        send(child.ref, msg.k === 'reply' ? { t: 'reply', reply: msg.reply, sealed: msg.sealed } : { t: 'malformed', id: msg.id, sealed: msg.sealed });
        return state;
      }
      case 'down': {
        state.down.add(msg.conn);
        if (state.down.size > MAX_DOWN) state.down.delete(state.down.values().next().value as string);
        const child = state.children.get(msg.conn);
        if (child !== undefined) {
          // In-flight requests on a dead wallet fail over now rather than at their timeout.
          this.stopChild(child, new HwayError('E_NO_WALLET', 'wallet disconnected'));
          state.children.delete(msg.conn);
        }
        return state;
      }
      case 'staged': {
        const child = state.children.get(msg.conn);
        if (child === undefined || child.ref !== msg.ref) return state;
        child.held = msg.held;
        child.frames--;
        // A frame that left its connection with nothing here (refused, or about a connection held
        // elsewhere): its actor goes at once, so that a flood of frames cannot pile actors up.
        if (!msg.held && child.inflight === 0 && child.frames === 0 && (msg.stage === 'new' || msg.stage === 'closed')) {
          this.stopChild(child, new HwayError('E_CLOSED', 'wallet actor passivated'));
          state.children.delete(msg.conn);
        }
        return state;
      }
      case 'crashed': {
        const child = state.children.get(msg.conn);
        if (child !== undefined && child.ref === msg.ref) state.children.delete(msg.conn);
        state.down.add(msg.conn);
        void this.opts.drop(msg.conn, 'its actor crashed').catch((e: unknown) =>
          this.log.warn('could not drop the connection of a crashed wallet actor; the sweep will', { conn: msg.conn, error: e instanceof Error ? e.message : String(e) }),
        );
        return state;
      }
      case 'live':
        msg.reply(msg.conns.filter((c) => !state.down.has(c.conn)).map((c) => ({ conn: c, inFlight: alive(c.conn)?.inflight ?? 0 })));
        return state;
      case 'held':
        msg.reply([...state.children].filter(([, c]) => c.held && !this.dead.has(c.ref)).map(([conn]) => conn));
        return state;
      case 'sweep': {
        const idleSince = now - this.opts.idleMs;
        for (const [conn, child] of state.children) {
          if (!child.held && child.inflight === 0 && child.frames === 0 && child.lastActive <= idleSince) {
            this.stopChild(child, new HwayError('E_CLOSED', 'wallet actor passivated'));
            state.children.delete(conn);
          }
        }
        return state;
      }
    }
  }

  /** Whether the actor has been stopped (or is being): every stop records its reason first, crashes too. */
  private stopping(ref: ActorRef<WalletMsg>): boolean {
    return this.why.has(ref);
  }

  private stopChild(child: Child, why: HwayError): void {
    if (!this.why.has(child.ref)) this.why.set(child.ref, why); // a crash's reason stands
    stopActor(child.ref); // afterStop fails what it had in flight with `why`
  }

  private spawn(conn: string, state: SupState, ctx: ActorContext<SupMsg>): ActorRef<WalletMsg> {
    const log = this.log.child({ conn });
    const supervisor = ctx.self;
    const ref: ActorRef<WalletMsg> = spawnActor<WalletState, WalletMsg>(ctx.self, `wallet-${++state.spawned}`, (s, m, actx) => handleWalletMsg(this.deps, conn, s, m, actx.self), {
      initialState: initialWalletState,
      onCrash: (msg, err) => {
        logCrash(log, `wallet:${conn}`, err);
        const why = new HwayError('E_NO_WALLET', `wallet connection ${conn} dropped: its actor crashed`);
        this.dead.add(ref);
        this.why.set(ref, why);
        failWalletMsg(msg, why);
        send(supervisor, { k: 'crashed', conn, ref });
        return 'stop';
      },
      afterStop: (s, waiting) => closeWalletState(s, waiting, this.why.get(ref) ?? new HwayError('E_CLOSED', 'gateway node is stopping')),
    });
    return ref;
  }
}

/** Answers a supervisor message that will never be handled, so that nobody waits for it. */
function failSupMsg(msg: SupMsg | undefined, why: HwayError): void {
  if (msg === undefined) return;
  switch (msg.k) {
    case 'frame':
    case 'evict':
      return msg.done();
    case 'pick':
      return msg.reply({ busy: false });
    case 'live':
      return msg.reply([]);
    case 'held':
      return msg.reply([]);
    default:
      return;
  }
}
