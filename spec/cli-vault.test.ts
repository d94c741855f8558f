// The vault operations through the CLI against a real node: every command's JSON parsed, signatures
// checked independently with @noble/curves, the three hash modes, verify answering false for a
// tampered message (exit 0), refresh keeping the key, export → import (same key, same signature),
// info and delete.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { ethAddress } from '../enclaves/addresses.js';
import { hway, quietLogger, WAIT } from './helpers/cli.js';
import { testCluster } from './helpers/node.js';

const cluster = testCluster('cli-vault');
const O = ['--prefix', cluster.prefix, '--partitions', String(cluster.partitions), '--json', ...WAIT];
const dir = mkdtempSync(join(tmpdir(), 'hway-cli-vault-'));
let node: HwayNode;

interface View {
  vaultId: string;
  publicKey: string;
  addresses: { eth: string; fil: string };
}
interface Sig {
  signature: string;
  recovery: number;
}

beforeAll(async () => {
  node = cluster.node({ logger: quietLogger() });
  await node.start();
});
afterAll(async () => {
  await cluster.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const verifies = (sig: string, digest: Uint8Array, pub: string): boolean =>
  secp256k1.verify(Buffer.from(sig, 'hex'), digest, Buffer.from(pub, 'hex'), { prehash: false });

test('generate, sign (none/sha256/keccak256), verify, refresh, info, export, import, delete', async () => {
  const gen = await hway<View>(['vault', 'generate', 'v1', ...O]);
  expect(gen.code).toBe(0);
  const v = gen.json;
  expect(Object.keys(v).sort()).toEqual(['addresses', 'publicKey', 'vaultId']);
  expect(v.vaultId).toBe('v1');
  expect(v.publicKey).toMatch(/^0[23][0-9a-f]{64}$/);
  expect(v.addresses.eth).toBe(ethAddress(Buffer.from(v.publicKey, 'hex')));
  expect(v.addresses.fil).toMatch(/^f1[a-z2-7]+$/);

  const message = Buffer.from('pay 1 fil to bob');
  const digest = createHash('sha256').update(message).digest();
  const [raw, sha, kec] = await Promise.all([
    hway<Sig>(['vault', 'sign', 'v1', digest.toString('hex'), ...O]),
    hway<Sig>(['vault', 'sign', 'v1', message.toString('hex'), '--hash', 'sha256', ...O]),
    hway<Sig>(['vault', 'sign', 'v1', `0x${message.toString('hex')}`, '--hash=keccak256', ...O]),
  ]);
  for (const r of [raw, sha, kec]) {
    expect(r.code).toBe(0);
    expect(Object.keys(r.json).sort()).toEqual(['recovery', 'signature']);
    expect(r.json.signature).toMatch(/^[0-9a-f]{128}$/);
    expect([0, 1, 2, 3]).toContain(r.json.recovery);
  }
  expect(verifies(raw.json.signature, digest, v.publicKey)).toBe(true);
  expect(sha.json.signature).toBe(raw.json.signature); // sha256 on the node = the digest we computed
  expect(verifies(kec.json.signature, keccak_256(message), v.publicKey)).toBe(true);
  // The recovery id recovers the vault's key.
  const rec = secp256k1.Signature.fromBytes(Buffer.from(raw.json.signature, 'hex'), 'compact').addRecoveryBit(raw.json.recovery).recoverPublicKey(digest);
  expect(Buffer.from(rec.toBytes(true)).toString('hex')).toBe(v.publicKey);

  const tampered = createHash('sha256').update('pay 9 fil to eve').digest('hex');
  const [good, bad, human] = await Promise.all([
    hway<{ valid: boolean }>(['vault', 'verify', v.publicKey, message.toString('hex'), raw.json.signature, '--hash', 'sha256', ...O]),
    hway<{ valid: boolean }>(['vault', 'verify', v.publicKey, tampered, raw.json.signature, ...O]),
    hway(['vault', 'verify', v.publicKey, digest.toString('hex'), raw.json.signature, '--prefix', cluster.prefix, '--partitions', String(cluster.partitions), ...WAIT]),
  ]);
  expect([good.code, good.json]).toEqual([0, { valid: true }]);
  expect([bad.code, bad.json]).toEqual([0, { valid: false }]);
  expect(human.code).toBe(0);
  expect(human.stdout).toMatch(/^valid/);

  const ref = await hway(['vault', 'refresh', 'v1', ...O]);
  expect([ref.code, ref.json]).toEqual([0, { vaultId: 'v1', epoch: 1, publicKey: v.publicKey }]);
  const after = await hway<Sig>(['vault', 'sign', 'v1', digest.toString('hex'), ...O]);
  expect(after.json.signature).toBe(raw.json.signature); // same key, RFC 6979

  const info = await hway<View & { epoch: number; version: number; account: string }>(['vault', 'info', 'v1', ...O]);
  expect(info.code).toBe(0);
  expect(info.json).toMatchObject({ vaultId: 'v1', publicKey: v.publicKey, addresses: v.addresses, epoch: 1, version: 2 });

  const pwFile = join(dir, 'pw');
  writeFileSync(pwFile, `${randomBytes(9).toString('base64url')}\n`, { mode: 0o600 });
  const exp = await hway<{ vaultId: string; cid: string }>(['vault', 'export', 'v1', '--password-file', pwFile, ...O]);
  expect(exp.code).toBe(0);
  expect(exp.json.vaultId).toBe('v1');
  expect(exp.json.cid).toMatch(/^bafk/);
  const imp = await hway<View>(['vault', 'import', exp.json.cid, 'v1-copy', '--password-file', pwFile, ...O]);
  expect(imp.code).toBe(0);
  expect(imp.json).toMatchObject({ vaultId: 'v1-copy', publicKey: v.publicKey });
  const copySig = await hway<Sig>(['vault', 'sign', 'v1-copy', digest.toString('hex'), ...O]);
  expect(copySig.json.signature).toBe(raw.json.signature);

  const del = await hway(['vault', 'delete', 'v1-copy', ...O]);
  expect([del.code, del.json]).toEqual([0, { vaultId: 'v1-copy', deleted: true }]);
  const gone = await hway(['vault', 'info', 'v1-copy', ...O]);
  expect(gone.code).toBe(1);
  expect(gone.json.error.code).toBe('E_UNKNOWN_VAULT');

  // Human output: short readable lines, no JSON.
  const h = await hway(['vault', 'info', 'v1', '--prefix', cluster.prefix, '--partitions', String(cluster.partitions), ...WAIT]);
  expect(h.code).toBe(0);
  expect(h.stdout).toContain(`publicKey  ${v.publicKey}`);
  expect(h.stdout).toContain(`eth        ${v.addresses.eth}`);
});
