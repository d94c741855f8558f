// Export passwords reach the CLI from a file or from standard input, and never from argv: a
// --password flag (any spelling) is a usage error, and the value given there is not echoed back.
// An empty or unreadable source is E_BAD_INPUT; a wrong one is E_WRONG_PASSWORD from the enclave.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { hway, quietLogger, WAIT } from './helpers/cli.js';
import { testCluster } from './helpers/node.js';

const cluster = testCluster('cli-pw');
const O = ['--prefix', cluster.prefix, '--partitions', String(cluster.partitions), '--json', ...WAIT];
const dir = mkdtempSync(join(tmpdir(), 'hway-cli-pw-'));
const PASSWORD = 'tr0ub4dor&3 with spaces';
let node: HwayNode;
let publicKey: string;

beforeAll(async () => {
  node = cluster.node({ logger: quietLogger() });
  await node.start();
  publicKey = (await cluster.client().vault.generate('pw1')).publicKey;
});
afterAll(async () => {
  await cluster.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('from a file and from stdin: the same password opens the export either way', async () => {
  const file = join(dir, 'pw.txt');
  writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
  const viaFile = await hway<{ cid: string }>(['vault', 'export', 'pw1', '--password-file', file, ...O]);
  const viaStdin = await hway<{ cid: string }>(['vault', 'export', 'pw1', ...O], { input: `${PASSWORD}\n` });
  expect([viaFile.code, viaStdin.code]).toEqual([0, 0]);
  // Exported under a file password, imported with it from stdin (one trailing newline is dropped
  // either way), and the other way round.
  const a = await hway<{ publicKey: string }>(['vault', 'import', viaFile.json.cid, 'pw-a', ...O], { input: PASSWORD });
  const b = await hway<{ publicKey: string }>(['vault', 'import', viaStdin.json.cid, 'pw-b', '--password-file', file, ...O]);
  expect([a.code, a.json.publicKey]).toEqual([0, publicKey]);
  expect([b.code, b.json.publicKey]).toEqual([0, publicKey]);
  const wrong = await hway(['vault', 'import', viaFile.json.cid, 'pw-c', ...O], { input: `${PASSWORD}x\n` });
  expect(wrong.code).toBe(1);
  expect(wrong.json.error.code).toBe('E_WRONG_PASSWORD');
  for (const r of [viaFile, viaStdin, a, b, wrong]) expect(r.stdout + r.stderr).not.toContain('tr0ub4dor');
});

test('never from argv; empty or unreadable sources are refused before anything is sent', async () => {
  const runs = await Promise.all([
    hway(['vault', 'export', 'pw1', '--password', PASSWORD, ...O]),
    hway(['vault', 'export', 'pw1', `--password=${PASSWORD}`, ...O]),
    hway(['vault', 'import', 'bafkreiabc', 'x', '--passwd', PASSWORD, ...O]),
    hway(['vault', 'export', 'pw1', '-p', PASSWORD, ...O]),
  ]);
  for (const r of runs) {
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('E_BAD_INPUT');
    expect(r.stdout + r.stderr).not.toContain('tr0ub4dor');
  }
  expect(runs[0]!.json.error.message).toMatch(/never taken from the command line/);

  const empty = await hway(['vault', 'export', 'pw1', ...O]); // stdin is /dev/null
  const missing = await hway(['vault', 'export', 'pw1', '--password-file', join(dir, 'nope'), ...O]);
  for (const r of [empty, missing]) {
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_BAD_INPUT');
  }
  expect(missing.json.error.message).toContain('ENOENT');
  // Nothing was enqueued for the refused runs: the node saw only the exports and imports above.
  expect((await node.stats()).ingress.archived).toBeLessThanOrEqual(1);
});
