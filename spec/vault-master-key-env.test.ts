// HWAY_MASTER_KEY is consumed: a node that reads it from the environment deletes it there, so that
// child processes, crash reports and environment dumps do not carry the key, and the node still seals
// under it.
import { afterAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { partitionOf } from '../actors/ingress/partition.js';
import { testCluster } from './helpers/node.js';
import { openOnHost } from './helpers/oracle.js';

const cluster = testCluster('menv');
afterAll(() => cluster.cleanup());

test('a node started without masterKeys takes HWAY_MASTER_KEY from process.env and removes it', async () => {
  const key = randomBytes(32);
  process.env.HWAY_MASTER_KEY = `4:${key.toString('hex')}`;
  const node = cluster.node({ masterKeys: undefined });
  await node.start();
  expect(process.env.HWAY_MASTER_KEY).toBeUndefined();
  expect('HWAY_MASTER_KEY' in process.env).toBe(false);

  const v = await cluster.client().vault.generate('from-env');
  const record = (await node.store.get(partitionOf('from-env', cluster.partitions), 'from-env'))!;
  expect(record.sealed[1]).toBe(4); // sealed under key id 4
  expect(openOnHost(record.sealed, { vaultId: 'from-env', account: record.account }, key)).not.toBeNull();
  expect(Buffer.from(record.publicKey).toString('hex')).toBe(v.publicKey);
});

test('an explicit env object loses it too, also when it does not parse', async () => {
  const env: NodeJS.ProcessEnv = { HWAY_MASTER_KEY: 'not a key' };
  const node = cluster.node({ masterKeys: undefined, env });
  await expect(node.start()).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
  expect(env).toEqual({});
});
