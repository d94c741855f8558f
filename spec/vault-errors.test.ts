// Every error code of the vault runtime from bad input, each leaving nothing half-written: the record
// (and its version) is what it was before the refused request.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { partitionOf } from '../actors/ingress/partition.js';
import { inspectDeadLetter } from '../actors/ingress/index.js';
import { HwayError } from '../errors.js';
import { VaultStore } from '../storage/vault-store.js';
import { testCluster, testRedis } from './helpers/node.js';
import { errorCode } from './helpers/errors.js';
import { HANG_MS } from './helpers/deadlines.js';

const cluster = testCluster('errors');
// A cluster of its own for the one import of a CID that nobody has: its node's IPFS timeout is
// short, because that timeout is the behaviour under test there (E_NOT_FOUND).
const notFound = testCluster('errors-nf');
const digest = createHash('sha256').update('x').digest();
let node: HwayNode;
let redis: Redis;

beforeAll(async () => {
  // Auth stand-in: the account is named in the payload, so isolation can be tested without tokens.
  node = cluster.node({
    mailboxLimit: 5,
    // Imports here fetch exports that exist (locally): ordinary work, so a hang-only timeout.
    ipfs: { timeoutMs: HANG_MS },
    authorize: async (task) => String((task.payload as { _account?: string })._account ?? '*'),
  });
  await node.start();
  redis = testRedis();
});
afterAll(async () => {
  await redis?.quit();
  await cluster.cleanup();
  await notFound.cleanup();
});


/** A key whose partition differs from the vault's, so the task lands on the wrong partition. */
function otherPartitionKey(vaultId: string): string {
  for (let i = 0; ; i++) if (partitionOf(`k${i}`, cluster.partitions) !== partitionOf(vaultId, cluster.partitions)) return `k${i}`;
}

// The store's own key names, so that the checks follow its layout.
const recordKey = (vaultId: string, c = cluster): string => new VaultStore(redis, c.prefix).recordKey(partitionOf(vaultId, c.partitions), vaultId);

test('E_BAD_PAYLOAD: malformed payloads are refused permanently, before any actor runs', async () => {
  const client = cluster.client();
  const cases: [string, unknown, string][] = [
    ['vault:generate', { vaultId: 'bad id with spaces' }, 'v1'],
    ['vault:generate', { vaultId: '' }, 'v2'],
    ['vault:generate', 'not an object', 'v3'],
    ['vault:sign', { vaultId: 'v4', data: 'zz' }, 'v4'],
    ['vault:sign', { vaultId: 'v5', data: 'ab', hash: 'none' }, 'v5'], // not 32 bytes
    ['vault:sign', { vaultId: 'v6', data: 'ab', hash: 'md5' }, 'v6'],
    ['vault:verify', { publicKey: '02', data: 'ab', signature: '00', hash: 'sha256' }, 'v7'],
    ['vault:export', { vaultId: 'v8' }, 'v8'], // no password
    ['vault:import', { vaultId: 'v9', cid: '!', password: 'x' }, 'v9'],
    ['vault:generate', { vaultId: 'v10' }, otherPartitionKey('v10')], // keyed by something else than its vault
  ];
  const retriedBefore = (await node.stats()).ingress.retried;
  for (const [i, [type, payload, key]] of cases.entries()) {
    const id = `bad-payload-${i}`;
    await expect(client.call(type, payload, { key, id })).rejects.toMatchObject({ code: 'E_BAD_PAYLOAD' });
    // Permanent: archived after its first attempt, not retried with backoff (counted, not timed).
    expect(await inspectDeadLetter({ redis, prefix: cluster.prefix, partitions: cluster.partitions }, id, { key })).toMatchObject({ id, attempts: 1, error: { code: 'E_BAD_PAYLOAD' } });
  }
  expect((await node.stats()).ingress.retried).toBe(retriedBefore);
  expect(await redis.exists(recordKey('v10'))).toBe(0);
});

test('E_VAULT_EXISTS and E_UNKNOWN_VAULT leave records as they were', async () => {
  const client = cluster.client();
  const v = await client.vault.generate('dup');
  const before = await redis.hgetall(recordKey('dup'));
  expect(await errorCode(client.vault.generate('dup'))).toBe('E_VAULT_EXISTS');
  expect(await redis.hgetall(recordKey('dup'))).toEqual(before);
  expect(await errorCode(client.vault.sign('nobody', digest))).toBe('E_UNKNOWN_VAULT');
  expect(await errorCode(client.vault.refresh('nobody'))).toBe('E_UNKNOWN_VAULT');
  expect(await errorCode(client.vault.delete('nobody'))).toBe('E_UNKNOWN_VAULT');
  expect(await redis.exists(recordKey('nobody'))).toBe(0);

  // delete removes the record and its address index; the vault is then unknown.
  await client.vault.delete('dup');
  expect(await redis.exists(recordKey('dup'))).toBe(0);
  expect(await redis.exists(new VaultStore(redis, cluster.prefix).addressKey(v.addresses.eth))).toBe(0);
  expect(await errorCode(client.vault.sign('dup', digest))).toBe('E_UNKNOWN_VAULT');
});

test('E_WRONG_PASSWORD and E_NOT_FOUND on import create nothing; E_VAULT_EXISTS refuses before fetching', async () => {
  const client = cluster.client();
  await client.vault.generate('src');
  const { cid } = await client.vault.export('src', 'right password');
  expect(await errorCode(client.vault.import(cid, 'dst', 'wrong'))).toBe('E_WRONG_PASSWORD');
  expect(await redis.exists(recordKey('dst'))).toBe(0);
  const missing = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';
  await notFound.node({ ipfs: { timeoutMs: 1000 } }).start();
  expect(await errorCode(notFound.client().vault.import(missing, 'dst', 'right password'))).toBe('E_NOT_FOUND');
  expect(await redis.exists(recordKey('dst', notFound))).toBe(0);
  expect(await redis.exists(recordKey('dst'))).toBe(0);
  expect(await errorCode(client.vault.import(cid, 'src', 'right password'))).toBe('E_VAULT_EXISTS');
  const ok = await client.vault.import(cid, 'dst', 'right password');
  expect(ok.publicKey).toBe((await client.vault.info('src')).publicKey);
});

test('E_FORBIDDEN: another account reaches neither the vault nor its key', async () => {
  const client = cluster.client();
  await client.call('vault:generate', { vaultId: 'acct-a', _account: 'alice' }, { key: 'acct-a' });
  const before = await redis.hgetall(recordKey('acct-a'));
  expect(before.account).toBe('alice');
  for (const type of ['vault:sign', 'vault:refresh', 'vault:export', 'vault:info', 'vault:delete']) {
    const payload = { vaultId: 'acct-a', _account: 'mallory', data: digest.toString('hex'), password: 'a long enough password' };
    expect(await errorCode(client.call(type, payload, { key: 'acct-a' }))).toBe('E_FORBIDDEN');
  }
  expect(await redis.hgetall(recordKey('acct-a'))).toEqual(before);
  const own = await client.call<{ signature: string }>('vault:sign', { vaultId: 'acct-a', _account: 'alice', data: digest.toString('hex') }, { key: 'acct-a' });
  expect(own.signature).toMatch(/^[0-9a-f]{128}$/);
});

test('E_STALE_EPOCH: a write under a fencing epoch that is no longer current is refused', async () => {
  const client = cluster.client();
  await client.vault.generate('fenced');
  const { partition: p, fence: epoch } = await cluster.fence('fenced');
  const record = (await node.store.get(p, 'fenced'))!;
  await expect(node.store.update(p, epoch - 1, { ...record, epoch: 99 })).rejects.toMatchObject({ code: 'E_STALE_EPOCH' });
  await expect(node.store.update(p, epoch, { ...record, version: record.version + 1 })).rejects.toMatchObject({ code: 'E_CONFLICT' });
  expect((await node.store.get(p, 'fenced'))!.version).toBe(record.version);
  expect((await node.store.get(p, 'fenced'))!.epoch).toBe(0);
});

test('E_BUSY: a vault mailbox is bounded', async () => {
  const client = cluster.client();
  await client.vault.generate('bounded');
  const { partition, fence } = await cluster.fence('bounded');
  const runs = Array.from({ length: 20 }, () => node.supervisor!.run('bounded', { op: { kind: 'sign', digest }, account: '*', partition, fence }));
  const codes = await Promise.all(runs.map(errorCode));
  expect(codes.filter((c) => c === 'ok').length).toBeGreaterThanOrEqual(5);
  expect(codes.filter((c) => c === 'E_BUSY').length).toBeGreaterThan(0);
  expect(codes.every((c) => c === 'ok' || c === 'E_BUSY')).toBe(true);
});

test('a registered task type validates its payload', async () => {
  node.registerTask('math:double', {
    validate: (p) => {
      if (typeof (p as { n?: unknown }).n !== 'number') throw new Error('n must be a number');
      return p as { n: number };
    },
    handle: (p) => ({ doubled: p.n * 2 }),
  });
  const client = cluster.client();
  expect(await client.call('math:double', { n: 21 })).toEqual({ doubled: 42 });
  await expect(client.call('math:double', { n: 'x' })).rejects.toMatchObject({ code: 'E_BAD_PAYLOAD' });
  expect(() => node.registerTask('vault:sign', { validate: (p) => p, handle: () => null })).toThrow(HwayError);
});
