// The whole life of a vault through the real pipeline (client → Redis ingress → vault actor →
// enclave → reply): generate → sign → verify → refresh → sign (same key) → export to IPFS → import on
// a second node (another process, its own data directory and master key, dialing the first over
// libp2p) → sign there with the same key.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HwayClient } from '../actors/client.js';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { ethAddress } from '../enclaves/addresses.js';
import { startProcess, stopProcess, type Child } from './helpers/processes.js';
import { HANG_ONLY, REDIS, redisEnv, testCluster } from './helpers/node.js';
import { HANG_MS } from './helpers/deadlines.js';

const cluster = testCluster('life');
const second = testCluster('life2');
let node: HwayNode;
let peer: Child<{ multiaddrs: string[] }> | undefined;

beforeAll(async () => {
  node = cluster.node({ ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'] } });
  await node.start();
});
afterAll(async () => {
  await stopProcess(peer);
  await cluster.cleanup();
  await second.cleanup();
});

test('generate → sign → verify → refresh → sign → export → import on another node → sign', async () => {
  const client = cluster.client();
  const digest = createHash('sha256').update('pay 1 fil').digest();

  const v = await client.vault.generate('alice');
  expect(v.publicKey).toMatch(/^0[23][0-9a-f]{64}$/);
  expect(v.addresses.eth).toBe(ethAddress(Buffer.from(v.publicKey, 'hex')));
  expect(v.addresses.fil).toMatch(/^f1[a-z2-7]+$/);

  const s1 = await client.vault.sign('alice', digest);
  expect(secp256k1.verify(Buffer.from(s1.signature, 'hex'), digest, Buffer.from(v.publicKey, 'hex'), { prehash: false })).toBe(true);
  expect((await client.vault.verify(v.publicKey, digest, s1.signature)).valid).toBe(true);
  expect((await client.vault.verify(v.publicKey, randomBytes(32), s1.signature)).valid).toBe(false);

  const r = await client.vault.refresh('alice');
  expect(r).toEqual({ vaultId: 'alice', epoch: 1, publicKey: v.publicKey });
  const s2 = await client.vault.sign('alice', digest);
  expect(s2.signature).toBe(s1.signature); // same key, RFC 6979
  const info = await client.vault.info('alice');
  expect(info.epoch).toBe(1);
  expect(info.version).toBe(2);

  const { cid } = await client.vault.export('alice', 'correct horse battery');
  expect(cid).toMatch(/^bafk/);

  // A second deployment: its own process, data directory, Redis prefix and master key, dialing the first.
  const dataDir = mkdtempSync(join(tmpdir(), 'hway-node-'));
  second.dirs.push(dataDir);
  const addrs = (await node.ipfs()).multiaddrs();
  peer = await startProcess<{ multiaddrs: string[] }>('spec/fixtures/node-process.ts', {
    ...redisEnv(),
    HWAY_PREFIX: second.prefix,
    HWAY_PARTITIONS: String(second.partitions),
    HWAY_DATA_DIR: dataDir,
    HWAY_MASTER_KEY: second.masterKey,
    HWAY_IPFS_PEERS: addrs.join(','),
  });
  const remote = new HwayClient({ redis: REDIS, ...HANG_ONLY, prefix: second.prefix, partitions: second.partitions, callTimeoutMs: HANG_MS });
  try {
    await expect(remote.vault.import(cid, 'alice-restored', 'wrong password')).rejects.toMatchObject({ code: 'E_WRONG_PASSWORD' });
    const imported = await remote.vault.import(cid, 'alice-restored', 'correct horse battery');
    expect(imported.publicKey).toBe(v.publicKey);
    const s3 = await remote.vault.sign('alice-restored', digest);
    expect(s3.signature).toBe(s1.signature);
  } finally {
    await remote.close();
  }
});
