// VaultSupervisor: spawns VaultActor(vaultId) on the first message for that vault, bounds each vault's
// mailbox, passivates idle vaults, and applies the supervision policy when a vault's enclave fails.
//
// Policy, explicitly: a crash (enclave timeout or trap) is logged and the actor is reset after a
// backoff of 100 ms × 2^(n−1); the reset actor builds a new enclave instance and re-reads its record,
// so other vaults never notice. More than `maxCrashes` crashes within `crashWindowMs` stop the actor
// and fail its waiting messages with E_ENCLAVE: nothing is lost silently, and the ingress retries them
// later (E_ENCLAVE is transient), when a fresh actor is spawned.
import { HwayError } from '../../errors.js';
import { logger as makeLogger, type Logger } from '../../log.js';
import { logCrash, send, spawnActor, stopActor, type ActorContext, type ActorRef, type SystemRef } from '../system.js';
import { EnclaveFailure, handleVaultMsg, initialVaultState, type VaultDeps, type VaultMsg, type VaultState } from './vault-actor.js';

export interface SupervisorOptions {
  /** Idle time after which a vault is passivated (default 5 min). */
  passivateMs: number;
  /** Messages waiting or running per vault before E_BUSY (default 1000). */
  mailboxLimit: number;
  maxCrashes: number;
  crashWindowMs: number;
}

export const DEFAULT_SUPERVISOR: SupervisorOptions = { passivateMs: 5 * 60_000, mailboxLimit: 1000, maxCrashes: 3, crashWindowMs: 60_000 };

type SupMsg =
  | { kind: 'op'; vaultId: string; msg: VaultMsg }
  | { kind: 'stopped'; vaultId: string; ref: ActorRef<VaultMsg> }
  | { kind: 'sweep' }
  | { kind: 'stats'; reply: (s: SupervisorStats) => void };

interface Child {
  ref: ActorRef<VaultMsg>;
  inflight: number;
  lastActive: number;
}

interface SupState {
  children: Map<string, Child>;
  activations: number;
  passivations: number;
  crashes: number;
}

export interface SupervisorStats {
  active: number;
  activations: number;
  passivations: number;
  crashes: number;
}

export class VaultSupervisor {
  private readonly ref: ActorRef<SupMsg>;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly crashLog = new Map<string, number[]>();
  /**
   * Actors the crash policy stopped. nact drops messages sent to a stopped actor without a word, so the
   * policy marks the ref here synchronously, before the supervisor can route another message to it.
   */
  private readonly dead = new WeakSet<ActorRef<VaultMsg>>();
  private readonly log: Logger;
  private stopped = false;
  /**
   * The supervisor's state, also read by `run`: every change to it happens in synchronous code on this
   * one thread (its handler, the reply callbacks, `run`), so each sees it whole.
   */
  private readonly state: SupState = { children: new Map(), activations: 0, passivations: 0, crashes: 0 };
  /** Operations sent to the supervisor actor and not yet handled, per vault (see `run`). */
  private readonly viaSupervisor = new Map<string, number>();

  constructor(
    system: SystemRef,
    private readonly deps: VaultDeps,
    private readonly opts: SupervisorOptions = DEFAULT_SUPERVISOR,
  ) {
    this.log = deps.log ?? makeLogger('vault-supervisor');
    this.ref = spawnActor<SupState, SupMsg>(system, 'vaults', (state, msg, ctx) => this.handle(state, msg, ctx), {
      initialState: () => this.state,
      // The supervisor's own handler only moves messages; if it ever throws, keep its children.
      onCrash: (_msg, err) => {
        logCrash(this.log, 'vault-supervisor', err);
        return 'resume';
      },
    });
    const every = Math.max(50, Math.min(opts.passivateMs / 2, 30_000));
    this.sweepTimer = setInterval(() => send(this.ref, { kind: 'sweep' }), every);
    this.sweepTimer.unref();
  }

  /** Runs one operation on a vault's actor; resolves with its result. */
  run(vaultId: string, msg: Omit<VaultMsg, 'resolve' | 'reject'>): Promise<Parameters<VaultMsg['resolve']>[0]> {
    if (this.stopped) return Promise.reject(new HwayError('E_CLOSED', 'node is stopping'));
    return new Promise((resolve, reject) => {
      const child = this.state.children.get(vaultId);
      // An active vault's operation goes straight to its actor: through the supervisor actor it cost one
      // more actor hop (a loop turn of latency under load) per sign. Only while none of the vault's
      // operations waits in the supervisor's mailbox, so that a vault's operations keep their order.
      if (child !== undefined && !this.dead.has(child.ref) && !this.viaSupervisor.has(vaultId)) return this.forward(vaultId, child, { ...msg, resolve, reject });
      this.viaSupervisor.set(vaultId, (this.viaSupervisor.get(vaultId) ?? 0) + 1);
      send(this.ref, { kind: 'op', vaultId, msg: { ...msg, resolve, reject } });
    });
  }

  stats(): Promise<SupervisorStats> {
    return new Promise((reply) => send(this.ref, { kind: 'stats', reply }));
  }

  /** Stops every vault actor (their enclave instances close) and the supervisor. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    stopActor(this.ref); // nact stops the children too; each afterStop closes its instance
  }

  private handle(state: SupState, msg: SupMsg, ctx: ActorContext<SupMsg>): SupState {
    switch (msg.kind) {
      case 'op': {
        const waiting = (this.viaSupervisor.get(msg.vaultId) ?? 1) - 1;
        if (waiting > 0) this.viaSupervisor.set(msg.vaultId, waiting);
        else this.viaSupervisor.delete(msg.vaultId);
        let child = state.children.get(msg.vaultId);
        if (child === undefined || this.dead.has(child.ref)) {
          child = { ref: this.spawnVault(msg.vaultId, ctx), inflight: 0, lastActive: Date.now() };
          state.children.set(msg.vaultId, child);
          state.activations++;
        }
        this.forward(msg.vaultId, child, msg.msg);
        return state;
      }
      case 'stopped': {
        const child = state.children.get(msg.vaultId);
        if (child !== undefined && child.ref === msg.ref) state.children.delete(msg.vaultId);
        state.crashes++;
        return state;
      }
      case 'sweep': {
        const idleSince = Date.now() - this.opts.passivateMs;
        for (const [vaultId, child] of state.children) {
          if (child.inflight === 0 && child.lastActive <= idleSince) {
            stopActor(child.ref); // afterStop closes the enclave instance
            state.children.delete(vaultId);
            state.passivations++;
          }
        }
        return state;
      }
      case 'stats':
        msg.reply({ active: state.children.size, activations: state.activations, passivations: state.passivations, crashes: state.crashes });
        return state;
    }
  }

  /** Hands an operation to a vault's actor, bounding what waits there, and counts it until it answers. */
  private forward(vaultId: string, child: Child, msg: VaultMsg): void {
    if (child.inflight >= this.opts.mailboxLimit) {
      msg.reject(new HwayError('E_BUSY', `vault ${vaultId} has ${child.inflight} operations waiting`));
      return;
    }
    child.inflight++;
    child.lastActive = Date.now();
    // The count goes down in the reply callback itself, not in a message to the supervisor: its handler
    // is synchronous, so a callback runs between two of its messages and sees and leaves the state
    // whole, and a message would cost one more actor hop (a macrotask and a context) per operation.
    // A late reply to a vault's former actor (crash reset, passivation) must not touch its next one's.
    const done = (): void => {
      if (this.state.children.get(vaultId) !== child) return;
      child.inflight--;
      child.lastActive = Date.now();
    };
    send(child.ref, {
      ...msg,
      resolve: (v) => {
        msg.resolve(v);
        done();
      },
      reject: (e) => {
        msg.reject(e);
        done();
      },
    });
  }

  private spawnVault(vaultId: string, ctx: ActorContext<SupMsg>): ActorRef<VaultMsg> {
    const log = this.log.child({ vault: vaultId });
    const supervisor = ctx.self;
    const ref: ActorRef<VaultMsg> = spawnActor<VaultState, VaultMsg>(ctx.self, vaultId, (state, msg) => handleVaultMsg(this.deps, vaultId, state, msg), {
      initialState: initialVaultState,
      onCrash: async (_msg, err, pending) => {
        logCrash(log, `vault:${vaultId}`, err instanceof EnclaveFailure ? err.cause.code : err);
        const now = Date.now();
        const recent = (this.crashLog.get(vaultId) ?? []).filter((t) => t > now - this.opts.crashWindowMs);
        recent.push(now);
        this.crashLog.set(vaultId, recent);
        if (recent.length > this.opts.maxCrashes) {
          const why = new HwayError('E_ENCLAVE', `vault ${vaultId} stopped after ${recent.length} enclave failures within ${this.opts.crashWindowMs} ms`);
          this.dead.add(ref);
          for (const m of pending) m.reject(why);
          log.error('vault actor stopped', { crashes: recent.length });
          send(supervisor, { kind: 'stopped', vaultId, ref });
          return 'stop';
        }
        await new Promise((r) => setTimeout(r, 100 * 2 ** (recent.length - 1)));
        return 'reset';
      },
      afterStop: async (state, pending) => {
        // Passivation or shutdown: nothing may be waiting (the sweep only stops idle actors), but a
        // node shutdown can stop a busy one: fail what waits rather than dropping it.
        for (const m of pending) m.reject(new HwayError('E_CLOSED', `vault ${vaultId} was stopped`));
        await state?.instance?.close();
      },
    });
    return ref;
  }
}
