// A node on the Filecoin testnet (filNetwork 't') records its vaults' t1… addresses; the gateway routes
// t… and f… spellings as one address. Both must reach the vault (issue 13 suspected the index and the
// lookup used different spellings: they did, and the index now uses the f… spelling for both).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createHash } from 'node:crypto';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { HANG_MS } from './helpers/deadlines.js';
import { testCluster } from './helpers/node.js';

const cluster = testCluster('tnet');
let node: HwayNode;
beforeAll(async () => {
  node = cluster.node({ filNetwork: 't' });
  await node.start();
});
afterAll(() => cluster.cleanup());

test("a testnet vault's t1 address, and its f1 spelling, reach the vault through the gateway", async () => {
  const client = cluster.client();
  const v = await client.vault.generate('tv');
  expect(v.addresses.fil).toMatch(/^t1/);
  const f1 = `f${v.addresses.fil.slice(1)}`;
  const digest = createHash('sha256').update('testnet').digest();
  for (const address of [v.addresses.fil, f1, v.addresses.eth]) {
    expect(await client.walletHas(address)).toBe(true);
    const r = await client.walletSign(address, digest, undefined, { timeoutMs: HANG_MS });
    expect(r.via).toBe('vault:tv');
    expect(secp256k1.verify(Buffer.from(r.signature, 'hex'), digest, Buffer.from(v.publicKey, 'hex'), { prehash: false })).toBe(true);
  }
  // Deleting the vault removes the index entry under the same spelling.
  await client.vault.delete('tv');
  expect(await node.store.byAddress(f1)).toBeNull();
});
