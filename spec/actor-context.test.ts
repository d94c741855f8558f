// nact built a copy of an actor's children map for every message it handled; actors/system.ts makes
// that copy lazy. A handler that reads its context's children still sees them all, and one that does
// not read them is not charged for them: the context holds a getter, not a map.
import { afterAll, expect, test } from '@jest/globals';
import { send, spawnActor, startSystem, stopActor, type ActorContext } from '../actors/system.js';

const system = startSystem('actor-context-test');
afterAll(() => stopActor(system));

test("a message's context reads the actor's children on demand", async () => {
  type Msg = { kind: 'spawn'; name: string } | { kind: 'look'; reply: (ctx: ActorContext<Msg>) => void };
  const parent = spawnActor<null, Msg>(
    system,
    'parent',
    (state, msg, ctx) => {
      if (msg.kind === 'spawn') spawnActor(ctx.self, msg.name, (s: null) => s, { initialState: () => null, onCrash: () => 'stop' });
      else msg.reply(ctx);
      return state;
    },
    { initialState: () => null, onCrash: () => 'stop' },
  );
  for (const name of ['a', 'b', 'c']) send(parent, { kind: 'spawn', name });
  const ctx = await new Promise<ActorContext<Msg>>((reply) => send(parent, { kind: 'look', reply }));

  const descriptor = Object.getOwnPropertyDescriptor(ctx, 'children');
  expect(typeof descriptor?.get).toBe('function'); // no copy made unless read
  expect(descriptor && 'value' in descriptor).toBe(false);
  expect([...ctx.children.keys()].sort()).toEqual(['a', 'b', 'c']);
  // each read is a fresh copy: changing it does not change the actor's children
  ctx.children.delete('a');
  expect([...ctx.children.keys()].sort()).toEqual(['a', 'b', 'c']);
  expect(ctx.name).toBe('parent');
});
