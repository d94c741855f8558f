// 200 concurrent operations on one vault are serialised while other vaults proceed. Each refresh
// reads the record's version and writes version + 1 under an optimistic check: had any two
// overlapped, one would fail with E_CONFLICT and the final epoch would fall short of 200.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import type { VaultResult } from '../actors/vault/vault-actor.js';
import { testCluster } from './helpers/node.js';

const cluster = testCluster('serial');
let node: HwayNode;
const digest = createHash('sha256').update('x').digest();

beforeAll(async () => {
  node = cluster.node({ concurrency: 50 });
  await node.start();
});
afterAll(() => cluster.cleanup());

test('200 concurrent refreshes through the ingress all apply, in order, while other vaults sign', async () => {
  const client = cluster.client();
  await client.vault.generate('busy');
  const others = ['o1', 'o2', 'o3', 'o4'];
  await Promise.all(others.map((v) => client.vault.generate(v)));

  let lastRefresh = 0;
  let lastOther = 0;
  const refreshes = Array.from({ length: 200 }, () => client.vault.refresh('busy').then((r) => ((lastRefresh = performance.now()), r)));
  const signs = others.flatMap((v) => Array.from({ length: 10 }, () => client.vault.sign(v, digest).then((s) => ((lastOther = performance.now()), s))));
  const results = await Promise.all(refreshes);
  await Promise.all(signs);

  // Every refresh succeeded with a distinct epoch: 1..200, none lost to a conflict.
  expect(results.map((r) => r.epoch).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  const info = await client.vault.info('busy');
  expect(info.epoch).toBe(200);
  expect(info.version).toBe(201);
  // The other vaults were not stuck behind the busy one.
  expect(lastOther).toBeLessThan(lastRefresh);
});

test('the actor serialises even without the ingress: 200 direct concurrent operations', async () => {
  const client = cluster.client();
  await client.vault.generate('direct');
  const { partition, fence } = await cluster.fence('direct');
  const runs: Promise<VaultResult>[] = Array.from({ length: 200 }, () => node.supervisor!.run('direct', { op: { kind: 'refresh' }, account: '*', partition, fence }));
  const epochs = (await Promise.all(runs)).map((r) => Number(r.epoch));
  expect(new Set(epochs).size).toBe(200);
  expect(Math.max(...epochs)).toBe(200);
});
