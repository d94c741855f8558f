// Two node processes; one is killed with SIGKILL in the middle of 2,000 tasks. Every task completes,
// no effect is applied twice, no task completed before the kill runs again, and only tasks that were
// in flight on the killed node at that moment run a second time. Also: rebalancing when a node joins,
// and a graceful stop (SIGTERM) that finishes in-flight work and hands the rest over.
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IngressClient, Keys, partitionOf } from '../actors/ingress/index.js';
import { HANG_ONLY, cleanup, eachKey, quietLogger, REDIS, redisEnv, testRedis, testPrefix, waitFor } from './fixtures/ingress-helpers.js';
import { testKey } from './helpers/redis.js';
import { HANG_MS } from './helpers/deadlines.js';

const P = 16;
const CONCURRENCY = 10;
// Tasks held by a node beyond its read-ahead; half of it (at least CONCURRENCY) bounds the tasks whose
// handler has returned while their outcome is still being written. With 2 × CONCURRENCY, at most
// CONCURRENCY such tasks: what a node has in flight is bounded by configuration, not by timing.
const MAX_HELD = 2 * CONCURRENCY;
const prefix = testPrefix('failover');
const keys = new Keys(prefix);
const redis = testRedis();
const root = fileURLToPath(new URL('..', import.meta.url));
const children: ChildProcess[] = [];
const t = (name: string) => testKey(prefix, name); // as spec/fixtures/ingress-node.ts writes them

function startNode(nodeId: string, workMs: number): { proc: ChildProcess; exited: Promise<number | null>; log: string[] } {
  const log: string[] = [];
  const proc = spawn(process.execPath, ['--import', 'tsx', '--disable-warning=ExperimentalWarning', 'spec/fixtures/ingress-node.ts'], {
    cwd: root,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      ...redisEnv(),
      HWAY_PREFIX: prefix,
      HWAY_NODE_ID: nodeId,
      HWAY_PARTITIONS: String(P),
      HWAY_CONCURRENCY: String(CONCURRENCY),
      HWAY_LEASE_MS: '2000',
      HWAY_MAX_HELD: String(MAX_HELD),
      // A graceful stop lets in-flight tasks finish however long that takes (hang-only).
      HWAY_SHUTDOWN_MS: String(HANG_MS),
      HWAY_WORK_MS: String(workMs),
      HWAY_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  children.push(proc);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, exited, log };
}

async function owners(): Promise<Map<number, string>> {
  const res = await eachKey(redis, Array.from({ length: P }, (_, p) => keys.lease(p)), (pipe, k) => pipe.get(k));
  const m = new Map<number, string>();
  res.forEach((v, p) => {
    if (typeof v === 'string') m.set(p, v.split('|')[0]!);
  });
  return m;
}

const count = (m: Map<number, string>, node: string) => [...m.values()].filter((n) => n === node).length;

/** How a node process ended after a graceful stop; its output only when it did not exit 0 (for the failure message). */
async function ending(n: ReturnType<typeof startNode>): Promise<{ code: number | null; signal: string | null; output: string }> {
  const code = await n.exited;
  return { code, signal: n.proc.signalCode, output: code === 0 ? '' : n.log.join('').slice(-3000) };
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cleanup(redis, prefix);
  await redis.quit();
});

describe('failover between node processes', () => {
  it('rebalances, survives SIGKILL of a node mid-run without double effects, and stops gracefully', async () => {
    const client = new IngressClient({ redis: REDIS, ...HANG_ONLY, prefix, partitions: P, logger: quietLogger() });
    try {
      const a = startNode('node-a', 8);
      await waitFor(async () => count(await owners(), 'node-a') === P, 'node-a to own every partition');

      const b = startNode('node-b', 8);
      const joinAt = Date.now();
      await waitFor(async () => {
        const o = await owners();
        return count(o, 'node-a') === P / 2 && count(o, 'node-b') === P / 2;
      }, 'an even split after node-b joined');
      console.log(`rebalance after join: ${Date.now() - joinAt} ms (including node-b start-up)`);

      const N = 2000;
      const items = Array.from({ length: N }, (_, i) => ({ type: 'work', payload: { amount: i + 1 }, opts: { id: `task-${i}`, key: `vault-${i % 300}` } }));
      await client.enqueueMany(items);
      await waitFor(async () => (await redis.hlen(t('fin'))) >= 500, '500 tasks done before the kill');

      const before = await owners();
      const aParts = new Set([...before].filter(([, n]) => n === 'node-a').map(([p]) => p));
      // Tasks whose result was stored before the kill (a snapshot taken just before it).
      const resultKeys = items.map((it) => keys.result(partitionOf(it.opts.key, P), it.opts.id));
      const stored = await eachKey<number>(redis, resultKeys, (pipe, k) => pipe.exists(k));
      const doneBeforeKill = new Set(items.filter((_, i) => stored[i] === 1).map((it) => it.opts.id));
      expect(doneBeforeKill.size).toBeGreaterThan(400);
      a.proc.kill('SIGKILL');
      const killAt = Date.now();
      await a.exited;

      await waitFor(async () => (await redis.hlen(t('fin'))) === N, 'every task to finish after the kill');
      await waitFor(async () => count(await owners(), 'node-b') === P, 'node-b to own every partition');

      // Failover: from the kill to the first task of a partition of node-a finished by node-b.
      const fin = await redis.hgetall(t('fin'));
      let firstTakeover = Infinity;
      for (const v of Object.values(fin)) {
        const [node, p, at] = v.split(' ');
        if (node === 'node-b' && aParts.has(Number(p)) && Number(at) > killAt) firstTakeover = Math.min(firstTakeover, Number(at));
      }
      const failoverMs = firstTakeover - killAt;
      console.log(`failover: ${failoverMs} ms from SIGKILL to the first task of a taken-over partition finishing (lease 2000 ms)`);
      expect(Number.isFinite(failoverMs)).toBe(true);

      // Every task has a stored, successful result.
      const results = await eachKey<string | null>(redis, resultKeys, (pipe, k) => pipe.get(k));
      const missing = results.filter((v) => typeof v !== 'string' || !v.startsWith('{"ok":1'));
      expect(missing).toHaveLength(0);

      // Every effect applied exactly once.
      expect(await redis.scard(t('effects'))).toBe(N);
      expect(Number(await redis.get(t('total')))).toBe((N * (N + 1)) / 2);

      // Executions: a task runs again only if it was running on node-a when it died — never one
      // whose result was stored, and never more than node-a had in flight.
      const runs = await redis.hgetall(t('runs'));
      const first = await redis.hgetall(t('first'));
      const rerun = Object.entries(runs).filter(([, n]) => Number(n) > 1).map(([id]) => id);
      console.log(`tasks executed twice (were mid-run on the killed node): ${rerun.length}`);
      for (const id of rerun) {
        expect(first[id]).toBe('node-a');
        expect(fin[id]!.startsWith('node-b ')).toBe(true);
        expect(doneBeforeKill.has(id)).toBe(false);
      }
      // In flight on node-a: at most CONCURRENCY running handlers, plus tasks whose handler had
      // returned and whose outcome was being written — at most max(CONCURRENCY, MAX_HELD / 2) of
      // those, however slow the writes (see MAX_HELD).
      expect(rerun.length).toBeLessThanOrEqual(CONCURRENCY + Math.max(CONCURRENCY, MAX_HELD / 2));
      expect(Object.values(runs).every((n) => Number(n) <= 2)).toBe(true);

      // Graceful stop: in-flight tasks finish, the leases are released, the rest waits for a new owner.
      const slow = Array.from({ length: 40 }, (_, i) => ({ type: 'work', payload: { amount: 0 }, opts: { id: `late-${i}`, key: `late-${i}` } }));
      await client.enqueueMany(slow);
      await waitFor(async () => (await redis.hlen(t('fin'))) >= N + 5, 'some late tasks to finish');
      b.proc.kill('SIGTERM');
      expect(await ending(b)).toEqual({ code: 0, signal: null, output: '' });
      expect((await owners()).size).toBe(0);
      expect(await redis.zrange(keys.nodes(), 0, -1)).toEqual([]);
      const startedLate = Object.keys(await redis.hgetall(t('runs'))).filter((id) => id.startsWith('late-'));
      const finishedLate = Object.keys(await redis.hgetall(t('fin'))).filter((id) => id.startsWith('late-'));
      expect(finishedLate.sort()).toEqual(startedLate.sort());

      const c = startNode('node-c', 1);
      await waitFor(async () => (await redis.hlen(t('fin'))) === N + slow.length, 'node-c to finish the rest');
      const lateRuns = await redis.hmget(t('runs'), ...slow.map((s) => s.opts.id));
      expect(lateRuns.every((n) => n === '1')).toBe(true);
      // node-b may have finished every late task itself: node-c then had nothing to do and may still
      // be starting, before its SIGTERM handler exists. Stop it once it says it started.
      await waitFor(() => c.log.join('').includes('"event":"started"'), 'node-c to start');
      c.proc.kill('SIGTERM');
      expect(await ending(c)).toEqual({ code: 0, signal: null, output: '' });
    } finally {
      await client.close();
    }
  });
});
