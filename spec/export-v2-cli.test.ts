// Export envelope v2 through a node: `hway vault export --generate-password` (a random 128-bit password,
// printed once, that opens the export), short export passwords refused by the CLI, the client and the
// node (E_WEAK_PASSWORD), imports naming the exporting vault, and a v1 envelope from before v2 (short
// password and all) still importing through IPFS.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { hway, quietLogger, WAIT } from './helpers/cli.js';
import { unhex } from './helpers/enclave.js';
import { errorCode } from './helpers/errors.js';
import { testCluster } from './helpers/node.js';

const cluster = testCluster('export-v2');
const TEXT = ['--prefix', cluster.prefix, '--partitions', String(cluster.partitions), ...WAIT];
const O = [...TEXT, '--json'];
const dir = mkdtempSync(join(tmpdir(), 'hway-export-v2-'));
let node: HwayNode;
let publicKey: string;

interface Exported {
  vaultId: string;
  cid: string;
  password?: string;
}
interface Imported {
  vaultId: string;
  publicKey: string;
  sourceVaultId?: string;
}

beforeAll(async () => {
  node = cluster.node({ logger: quietLogger() });
  await node.start();
  publicKey = (await cluster.client().vault.generate('gen-pw')).publicKey;
});
afterAll(async () => {
  await cluster.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('--generate-password: 16 random bytes as base64url, printed once, and they open the export', async () => {
  const r = await hway<Exported>(['vault', 'export', 'gen-pw', '--generate-password', ...O]);
  expect(r.code).toBe(0);
  expect(r.json.vaultId).toBe('gen-pw');
  const password = r.json.password!;
  expect(password).toMatch(/^[A-Za-z0-9_-]{22}$/);
  expect(Buffer.from(password, 'base64url')).toHaveLength(16);
  expect(r.stdout.split(password)).toHaveLength(2); // exactly once on stdout
  expect(r.stderr).not.toContain(password);

  const imp = await hway<Imported>(['vault', 'import', r.json.cid, 'gen-pw-copy', ...O], { input: `${password}\n` });
  expect(imp.code).toBe(0);
  expect(imp.json).toMatchObject({ vaultId: 'gen-pw-copy', publicKey, sourceVaultId: 'gen-pw' });

  // Text output: the password on its own line, once; every run makes a new one.
  const text = await hway(['vault', 'export', 'gen-pw', '--generate-password', ...TEXT]);
  expect(text.code).toBe(0);
  const line = /^password {2}([A-Za-z0-9_-]{22})$/m.exec(text.stdout);
  expect(line).not.toBeNull();
  expect(text.stdout.split(line![1]!)).toHaveLength(2);
  expect(line![1]).not.toBe(password);
  const again = await hway<Imported>(['vault', 'import', /^cid +(\S+)$/m.exec(text.stdout)![1]!, 'gen-pw-copy-2', ...O], { input: line![1]! });
  expect([again.code, again.json.publicKey]).toEqual([0, publicKey]);
});

test('--generate-password and --password-file exclude each other; import has no --generate-password', async () => {
  const file = join(dir, 'pw-both');
  writeFileSync(file, 'a long enough password\n', { mode: 0o600 });
  const both = await hway(['vault', 'export', 'gen-pw', '--generate-password', '--password-file', file, ...O]);
  expect([both.code, both.json.error.code]).toEqual([2, 'E_BAD_INPUT']);
  const onImport = await hway(['vault', 'import', 'bafkreiabc', 'x', '--generate-password', ...O]);
  expect([onImport.code, onImport.json.error.code]).toEqual([2, 'E_BAD_INPUT']);
});

test('an export password under 12 characters: E_WEAK_PASSWORD from the CLI, the client and the node', async () => {
  const file = join(dir, 'pw-short');
  writeFileSync(file, 'eleven char\n', { mode: 0o600 });
  const viaFile = await hway(['vault', 'export', 'gen-pw', '--password-file', file, ...O]);
  const viaStdin = await hway(['vault', 'export', 'gen-pw', ...O], { input: 'short\n' });
  for (const r of [viaFile, viaStdin]) {
    expect([r.code, r.json.error.code]).toEqual([1, 'E_WEAK_PASSWORD']);
    expect(r.json.error.message).toMatch(/12 characters/);
    expect(r.stdout + r.stderr).not.toContain('eleven char');
  }

  const client = cluster.client();
  expect(await errorCode(client.vault.export('gen-pw', 'eleven char'))).toBe('E_WEAK_PASSWORD');
  // A producer that skips the client's check: the node refuses the payload (permanent, not retried).
  expect(await errorCode(client.call('vault:export', { vaultId: 'gen-pw', password: 'eleven char' }, { key: 'gen-pw' }))).toBe('E_WEAK_PASSWORD');
  // Twelve characters are enough (the CLI's and client's count: characters, not bytes).
  expect((await client.vault.export('gen-pw', 'ünïcödé 12ch')).cid).toMatch(/^bafk/);
});

test('a v1 envelope made before v2, with a 2-character password, imports through IPFS', async () => {
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/export-v1-envelope.json', import.meta.url), 'utf8')) as {
    short: { password: string; envelope: string };
    publicKey: string;
  };
  const cid = await (await node.ipfs()).put(unhex(fixture.short.envelope));
  const client = cluster.client();
  expect(await errorCode(client.vault.import(cid, 'legacy', 'pX'))).toBe('E_WRONG_PASSWORD');
  const v = await client.vault.import(cid, 'legacy', fixture.short.password);
  expect(v.publicKey).toBe(fixture.publicKey);
  expect(v.sourceVaultId).toBeUndefined(); // v1 envelopes do not name their vault
  const viaCli = await hway<Imported>(['vault', 'import', cid, 'legacy-cli', ...O], { input: fixture.short.password });
  expect([viaCli.code, viaCli.json.publicKey]).toEqual([0, fixture.publicKey]);
});
