// `hway demo --json`: exactly one JSON object on stdout, every step ok, exit 0, and nothing left
// behind on the machine's Redis under the demo's unique key prefix. The human output: one aligned
// line per step and a summary, with nothing on stderr even when started as `node bin/hway`.
import { expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { cliEnv, HWAY, hway, ROOT } from './helpers/cli.js';
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

test('hway demo, human output, started as `node bin/hway`: aligned ✓ lines, a summary, no warnings', async () => {
  const proc = spawn(process.execPath, [HWAY, 'demo'], { cwd: ROOT, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => proc.on('close', r));
  expect(err).toBe(''); // no ExperimentalWarning from the enclave's WASI workers, no logs
  expect(code).toBe(0);
  const lines = out.trimEnd().split('\n');
  const steps = lines.slice(0, -1);
  for (const l of steps) expect(l).toMatch(/^✓ .{22} +\d+ ms  \S/);
  // Aligned: the "ms" column ends at the same place on every line.
  expect(new Set(steps.map((l) => l.indexOf(' ms  '))).size).toBe(1);
  expect(lines.at(-1)).toMatch(new RegExp(`^✓ ${steps.length}/${steps.length} steps ok in \\d+\\.\\d s`));
});
