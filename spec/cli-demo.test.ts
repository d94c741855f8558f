// `hway demo --json`: exactly one JSON object on stdout, every step ok, exit 0, and nothing left
// behind on the machine's Redis under the demo's unique key prefix. The human output (aligned lines, a
// summary, nothing on stderr) is checked on the installed package, in spec/package.test.ts.
import { expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { hway } from './helpers/cli.js';
import { REDIS } from './helpers/node.js';

interface Step {
  name: string;
  ok: boolean;
  ms: number;
  detail?: string;
}

test('hway demo --json: all steps ok, one JSON object, no keys left behind', async () => {
  const r = await hway<{ steps: Step[] }>(['demo', '--json']); // hang-only deadline (helpers/cli.ts)
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout.trim().split('\n')).toHaveLength(1);
  const { steps } = r.json;
  expect(Object.keys(r.json)).toEqual(['steps']);
  for (const s of steps) {
    expect({ name: s.name, ok: s.ok, detail: s.detail }).toEqual({ name: s.name, ok: true, detail: s.detail });
    expect(Number.isInteger(s.ms) && s.ms >= 0).toBe(true);
  }
  const names = steps.map((s) => s.name);
  for (const n of ['redis', 'start node 1', 'generate', 'sign', 'verify', 'refresh', 'export', 'start node 2', 'import on node 2', 'sign on node 2', 'error: wrong password', 'node stats', 'stop nodes']) {
    expect(names).toContain(n);
  }
  // The gateway is part of this build: a wallet and a vault sign through it.
  for (const n of ['gateway: wallet', 'gateway: sign', 'gateway: vault']) expect(names).toContain(n);
  const byName = new Map(steps.map((s) => [s.name, s]));
  expect(byName.get('generate')!.detail).toMatch(/eth 0x[0-9a-fA-F]{40}\s+fil f1[a-z2-7]+/);
  expect(byName.get('export')!.detail).toMatch(/bafk[a-z2-7]+/);
  expect(byName.get('error: wrong password')!.detail).toContain('E_WRONG_PASSWORD');
  expect(byName.get('refresh')!.detail).toContain('epoch 1');

  const prefix = /key prefix (hway-demo-[0-9a-f]+)/.exec(byName.get('redis')!.detail ?? '')?.[1];
  expect(prefix).toBeDefined();
  const redis = new Redis(REDIS);
  try {
    expect(await redis.keys(`${prefix}*`)).toEqual([]);
  } finally {
    redis.disconnect();
  }
});
