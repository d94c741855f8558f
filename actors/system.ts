// The actor system, wrapped thinly around nact so that nact (frozen since 2021) could be replaced:
// the rest of Highway uses only these few functions and types.
//
// nact's facts that shape this wrapper (../shared/STACK.md): a handler that returns a promise runs
// strictly one message at a time per actor; the default crash policy console.logs and stops, so every
// actor here gets an explicit policy; mailboxes are unbounded, so bounding is the caller's job (the
// vault supervisor counts messages in flight per actor); `ctx.sender` is untyped, so a message carries
// its own reply callbacks.
import { dispatch, spawn, start, stop } from 'nact';
import type * as nact from 'nact';
import { createRequire } from 'node:module';
import type { Logger } from '../log.js';

interface NactActor {
  parent?: { reference: unknown };
  path: unknown;
  reference: unknown;
  name: string;
  childReferences: Map<string, unknown>;
  log: unknown;
}

/**
 * nact builds a context for every message with `children: new Map(this.childReferences)`: a copy of
 * every child reference, per message. The vault supervisor has one child per active vault, so with
 * 10,000 active vaults each sign copied 10,000 entries several times (bench:profile --keys 10000:
 * 3.9 of a sign's 6.1 ms of CPU, 190 signs/s; 3,233 signs/s without the copy). Nothing here reads
 * `children` on a message's context, so it becomes a getter that copies only when read. nact is
 * pinned (7.6.2, frozen since 2021); the shape is checked so that a different nact fails here, at
 * start-up, rather than silently.
 */
function lazyChildrenContext(): void {
  const { Actor } = createRequire(import.meta.url)('nact/lib/actor.js') as { Actor: { prototype: Record<string, unknown> } };
  const original = Actor.prototype.createContext as ((sender: unknown) => Record<string, unknown>) | undefined;
  if (typeof original !== 'function' || !String(original).includes('new Map(this.childReferences)')) {
    throw new Error('nact: Actor.prototype.createContext is not the one actors/system.ts patches (nact 7.6.2)');
  }
  Actor.prototype.createContext = function createContext(this: NactActor, sender: unknown) {
    const actor = this;
    return {
      parent: actor.parent ? actor.parent.reference : undefined,
      path: actor.path,
      self: actor.reference,
      name: actor.name,
      get children() {
        return new Map(actor.childReferences);
      },
      sender,
      log: actor.log,
    };
  };
}
lazyChildrenContext();

// nact's own types use `any` for references; these opaque aliases keep that out of our signatures.
export type ActorRef<Msg> = nact.Ref<Msg>;
export type SystemRef = nact.ActorSystemRef;

/** What a supervision policy may decide when an actor's handler throws. */
export type CrashDecision = 'reset' | 'stop' | 'resume';

export interface ActorContext<Msg> {
  self: ActorRef<Msg>;
  name: string;
  /** Child actors by name (for a supervisor). */
  children: Map<string, ActorRef<unknown>>;
}

export interface SpawnOptions<State, Msg> {
  initialState: () => State;
  /**
   * The supervision policy: called with the message that crashed the actor, the error and the messages
   * still waiting in its mailbox (which a 'stop' would otherwise drop silently).
   */
  onCrash: (msg: Msg, err: unknown, pending: Msg[]) => CrashDecision | Promise<CrashDecision>;
  /** Runs once the actor has stopped, with its last state (release its resources here). */
  afterStop?: (state: State, pending: Msg[]) => void | Promise<void>;
}

export function startSystem(name: string): SystemRef {
  return start(name);
}

export function spawnActor<State, Msg>(
  parent: ActorRef<unknown> | SystemRef,
  name: string,
  handle: (state: State, msg: Msg, ctx: ActorContext<Msg>) => State | Promise<State>,
  options: SpawnOptions<State, Msg>,
): ActorRef<Msg> {
  return spawn(parent, (state: State, msg: Msg, ctx: nact.ActorContext<Msg, nact.Ref<unknown>>) => handle(state, msg, ctx), name, {
    initialStateFunc: options.initialState,
    onCrash: async (msg: Msg | undefined, err: Error | undefined, ctx: nact.SupervisionContext<Msg, nact.Ref<unknown>>) => {
      const decision = await options.onCrash(msg as Msg, err, ctx.mailbox.map((m) => (m as unknown as { message: Msg }).message ?? m));
      return decision === 'reset' ? ctx.reset : decision === 'resume' ? ctx.resume : ctx.stop;
    },
    afterStop: options.afterStop
      ? (state: State, ctx: nact.ActorContextWithMailbox<Msg, nact.Ref<unknown>>) =>
          options.afterStop!(state, ctx.mailbox.map((m) => (m as unknown as { message: Msg }).message ?? m))
      : undefined,
  });
}

export function send<Msg>(ref: ActorRef<Msg>, msg: Msg): void {
  dispatch(ref, msg);
}

export function stopActor(ref: ActorRef<unknown> | SystemRef): void {
  stop(ref);
}

/** A crash policy that logs through winston: the building block of every actor's onCrash. */
export function logCrash(log: Logger, actor: string, err: unknown): void {
  log.error('actor crashed', { actor, error: err instanceof Error ? err.message : String(err) });
}
