// Memory per active vault (issue 11: "≤ 256 KiB per active vault with 10,000 active vaults").
//
// One node in this process (auth off: tokens do not change what a vault holds). Vaults are generated
// and signed with in steps up to `--vaults` (default 10,000), so every vault is active: its actor
// has read its record and its enclave instance exists in a pool worker (passivation is set to 6 h: on
// a busy machine the run can take longer than the default 5 min). After each step the figures are read after a full GC of the main thread:
//   - rss: the whole process, worker threads and their wasm linear memories included (what the OS
//     charges the node);
//   - heap: the main thread's V8 heap (actors, records, the router's caches);
//   - redis: Redis's used_memory (vault records and the rest of the prefix's keys).
// The per-vault figure is the slope between the first step and the last (fixed costs cancel), in KiB.
// Memory is not speed: these figures do not depend on how busy the machine is, only on what is held.
//
//   npm run bench:vault-memory [-- --vaults 10000] [-- --steps 4] [-- --json]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { HwayClient } from '../actors/client.js';
import { createNode } from '../actors/node.js';
import { deleteKeysWithPrefix } from '../storage/prefix-keys.js';
import { table, wantsJson, type Row } from './report.js';

const arg = (name: string, d: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : d;
};
const REDIS = arg('redis', process.env.HWAY_REDIS ?? 'redis://127.0.0.1:6379');
const VAULTS = Number(arg('vaults', '10000'));
const STEPS = Number(arg('steps', '4'));
const say = (s: string): void => void (wantsJson() ? process.stderr : process.stdout).write(`${s}\n`);
const KiB = 1024;

interface Reading {
  vaults: number;
  rss: number;
  heap: number;
  redis: number;
}

async function read(vaults: number, r: Redis, active: () => Promise<number>): Promise<Reading> {
  // Twice: a collection can free what finalizers released in the previous one.
  for (let i = 0; i < 2; i++) {
    globalThis.gc?.();
    await new Promise((res) => setTimeout(res, 50));
  }
  const n = await active();
  if (n !== vaults) throw new Error(`expected ${vaults} active vaults, the supervisor has ${n}`);
  const mem = process.memoryUsage();
  const info = await r.info('memory');
  const redis = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
  return { vaults, rss: mem.rss, heap: mem.heapUsed, redis };
}

async function main(): Promise<void> {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc (npm run bench:vault-memory does)');
  const prefix = `hwm-${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'hway-bench-mem-'));
  const r = new Redis(REDIS);
  const node = createNode({ redis: REDIS, prefix, dataDir, masterKeys: `1:${randomBytes(32).toString('hex')}`, concurrency: 50, insecure: true, gateway: false, passivateMs: 6 * 3600_000 });
  await node.start();
  const client = new HwayClient({ redis: REDIS, prefix, callTimeoutMs: 120_000 });
  const active = async (): Promise<number> => (await node.stats()).vaults.active;
  const digest = 'ab'.repeat(32);
  const readings: Reading[] = [];
  try {
    // A first small step so that fixed costs (workers, JIT, Redis connections) are paid before the baseline.
    const marks = [Math.max(1, Math.floor(VAULTS / 100)), ...Array.from({ length: STEPS }, (_, i) => Math.round((VAULTS * (i + 1)) / STEPS))];
    let made = 0;
    for (const target of marks) {
      const t0 = performance.now();
      // In windows of 500, so that a step never queues 10,000 calls at once.
      while (made < target) {
        const ids = Array.from({ length: Math.min(500, target - made) }, (_, k) => `mem-${made + k}`);
        await Promise.all(ids.map(async (id) => {
          await client.vault.generate(id);
          await client.vault.sign(id, digest);
        }));
        made += ids.length;
      }
      readings.push(await read(made, r, active));
      say(`${made} vaults active (${((performance.now() - t0) / 1000).toFixed(1)} s for this step)`);
    }
  } finally {
    await client.close();
    await node.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await deleteKeysWithPrefix(r, prefix);
    await r.quit();
  }

  const first = readings[0]!;
  const last = readings[readings.length - 1]!;
  const per = (k: keyof Omit<Reading, 'vaults'>): number => (last[k] - first[k]) / (last.vaults - first.vaults) / KiB;
  const rows: Row[] = readings.map((x) => ({ 'active vaults': x.vaults, 'rss MiB': x.rss / KiB / KiB, 'heap MiB': x.heap / KiB / KiB, 'redis MiB': x.redis / KiB / KiB }));
  const slope = { rssKiB: per('rss'), heapKiB: per('heap'), redisKiB: per('redis') };
  const target = 256;
  if (wantsJson()) {
    process.stdout.write(`${JSON.stringify({ vaults: VAULTS, readings, perVaultKiB: slope, targetKiB: target })}\n`);
    return;
  }
  say('');
  say(table('memory as vaults become active (after GC)', rows));
  say('');
  say(table(`per active vault, slope from ${first.vaults} to ${last.vaults} vaults`, [
    { figure: 'process rss (workers and wasm included)', KiB: slope.rssKiB, 'vs 256 KiB target': slope.rssKiB / target },
    { figure: 'main-thread V8 heap', KiB: slope.heapKiB, 'vs 256 KiB target': slope.heapKiB / target },
    { figure: 'redis used_memory', KiB: slope.redisKiB, 'vs 256 KiB target': slope.redisKiB / target },
  ]));
}

await main();
