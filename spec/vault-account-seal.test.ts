// The account inside the seal (issue 10, item 4): a vault's sealed data binds its account in the AEAD
// associated data, and the enclave opens it only for the account the node verified for the request.
// Someone who rewrites a record's `account` in Redis, and asks with a token of that account, is refused
// (E_FORBIDDEN) and the vault is unchanged. Records sealed without an account (v1, nodes up to ABI 2)
// keep working, and vault:refresh re-seals them bound to their account.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { TokenService } from '../actors/gateway/tokens.js';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { partitionOf } from '../actors/ingress/partition.js';
import { addressesOf } from '../enclaves/addresses.js';
import { isAccountBound, type Enclave, type VaultEnclave } from '../enclaves/enclave.js';
import { parseMasterKeys } from '../enclaves/master-keys.js';
import { HwayError } from '../errors.js';
import { VaultStore } from '../storage/vault-store.js';
import { pollUntil } from './helpers/deadlines.js';
import { bind, hex, masterKey, openEnclave, testRing, unhex } from './helpers/enclave.js';
import { errorCode } from './helpers/errors.js';
import { REDIS, testCluster, testRedis, type TestCluster } from './helpers/node.js';
import { accountCheckOnHost, openOnHost, sealOnHost, sealV1OnHost } from './helpers/oracle.js';

/** Sealed data v1 made by the enclave of ABI 2 (before this change), with its test master key. */
const legacy = JSON.parse(readFileSync(new URL('./fixtures/sealed-v1.json', import.meta.url), 'utf8')) as {
  masterKey: string;
  vaultId: string;
  sealedEpoch0: string;
  sealedEpoch1: string;
  publicKey: string;
  message: string;
  signature: string;
};
const legacyKey = parseMasterKeys(legacy.masterKey).keys[0]!;
const legacyDigest = createHash('sha256').update(legacy.message).digest();
const digest = createHash('sha256').update('account seal').digest();
const PASSWORD = 'a long enough password';

/** The code and message of a refusal: the message tells the enclave's refusal from the record check's. */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof HwayError ? `${err.code}: ${err.message}` : String(err);
  }
}
const BY_ENCLAVE = /^E_FORBIDDEN: .*sealed for another account/;

describe('the enclave', () => {
  const k1 = masterKey(1);
  let enclave: Enclave;
  let legacyEnclave: Enclave;
  let vault: VaultEnclave;
  beforeAll(async () => {
    enclave = await openEnclave({ masterKeys: testRing(k1) });
    legacyEnclave = await openEnclave({ masterKeys: testRing({ id: legacyKey.id, key: Uint8Array.from(legacyKey.key) }) });
    vault = await enclave.vault();
  });
  afterAll(async () => {
    await vault?.close();
    await enclave?.close();
    await legacyEnclave?.close();
  });

  test('a seal opens for its own account only: another is E_FORBIDDEN, another vault id E_CORRUPT', async () => {
    const g = await vault.generate(bind('va', 'alice'));
    expect(isAccountBound(g.sealed)).toBe(true);
    await vault.checkSeal(g.sealed, bind('va', 'alice'));
    expect(await errorCode(vault.sign(g.sealed, bind('va', 'alice'), digest))).toBe('ok');
    for (const bob of [bind('va', 'bob'), bind('va', 'alicE'), bind('va', 'alice ')]) {
      expect(await errorCode(vault.sign(g.sealed, bob, digest))).toBe('E_FORBIDDEN');
      expect(await errorCode(vault.refresh(g.sealed, bob))).toBe('E_FORBIDDEN');
      expect(await errorCode(vault.checkSeal(g.sealed, bob))).toBe('E_FORBIDDEN');
      expect(await errorCode(enclave.exportKey(g.sealed, bob, PASSWORD))).toBe('E_FORBIDDEN');
    }
    expect(await errorCode(vault.sign(g.sealed, bind('vb', 'alice'), digest))).toBe('E_CORRUPT');
    // The host's oracle (ABI.md's format): the account is in the associated data.
    expect(openOnHost(g.sealed, bind('va', 'alice'), k1.key)).not.toBeNull();
    expect(openOnHost(g.sealed, bind('va', 'bob'), k1.key)).toBeNull();
  });

  test("the account check is not the boundary: a seal carrying bob's check still fails for bob (E_CORRUPT)", async () => {
    const sk = Uint8Array.from(randomBytes(32));
    const sealed = sealOnHost(sk, bind('forged', 'alice'), k1.key, 1);
    const forged = Uint8Array.from(sealed);
    forged.set(accountCheckOnHost(k1.key, 'bob'), 9);
    expect(await errorCode(vault.sign(forged, bind('forged', 'bob'), digest))).toBe('E_CORRUPT');
    expect(await errorCode(vault.sign(forged, bind('forged', 'alice'), digest))).toBe('E_FORBIDDEN');
    expect(await errorCode(vault.sign(sealed, bind('forged', 'alice'), digest))).toBe('ok');
  });

  test('v1 data of older nodes opens for any account; refresh re-seals it as v2, bound to the account given', async () => {
    const old = await legacyEnclave.vault();
    try {
      const sealed = unhex(legacy.sealedEpoch1);
      expect(isAccountBound(sealed)).toBe(false);
      for (const account of ['alice', 'bob']) {
        const s = await old.sign(sealed, bind(legacy.vaultId, account), legacyDigest);
        expect(hex(s.signature)).toBe(legacy.signature); // RFC 6979: the same key as the old enclave's
      }
      const r = await old.refresh(sealed, bind(legacy.vaultId, 'alice'));
      expect([r.sealed.length, r.sealed[0], r.epoch, hex(r.publicKey)]).toEqual([97, 2, 2, legacy.publicKey]);
      expect(hex((await old.sign(r.sealed, bind(legacy.vaultId, 'alice'), legacyDigest)).signature)).toBe(legacy.signature);
      expect(await errorCode(old.sign(r.sealed, bind(legacy.vaultId, 'bob'), legacyDigest))).toBe('E_FORBIDDEN');
      expect(openOnHost(r.sealed, bind(legacy.vaultId, 'alice'), legacyKey.key)).not.toBeNull();
    } finally {
      await old.close();
    }
  });

  test("an import binds the key to the importer's account, not the exporter's", async () => {
    // One export and one import: each runs Argon2id at 256 MiB on a KDF instance.
    const g = await vault.generate(bind('exported', 'alice'));
    const env = await enclave.exportKey(g.sealed, bind('exported', 'alice'), PASSWORD);
    const imported = await enclave.importKey(env, PASSWORD, bind('imported', 'carol'));
    expect(isAccountBound(imported.sealed)).toBe(true);
    expect(hex(imported.publicKey)).toBe(hex(g.publicKey));
    expect(await errorCode(vault.sign(imported.sealed, bind('imported', 'carol'), digest))).toBe('ok');
    expect(await errorCode(vault.sign(imported.sealed, bind('imported', 'alice'), digest))).toBe('E_FORBIDDEN');
  });
});

/** Raw Redis access to a test cluster's vault records: what an attacker holding Redis can do. */
function records(cluster: TestCluster, redis: () => Redis) {
  const key = (vaultId: string): string => new VaultStore(redis(), cluster.prefix).recordKey(partitionOf(vaultId, cluster.partitions), vaultId);
  return {
    key,
    get: (vaultId: string): Promise<Record<string, string>> => redis().hgetall(key(vaultId)),
    setAccount: async (vaultId: string, account: string): Promise<void> => {
      await redis().hset(key(vaultId), 'account', account);
    },
  };
}

/** Waits until no vault actor is active, so that the next request reads every record from Redis again. */
async function passivated(node: HwayNode): Promise<void> {
  await pollUntil(async () => (await node.stats()).vaults.active === 0, 'the vault actors to be passivated');
}

const verifies = (signature: string, publicKey: string, d: Uint8Array = digest): boolean =>
  secp256k1.verify(Buffer.from(signature, 'hex'), d, Buffer.from(publicKey, 'hex'), { prehash: false });

describe('a node with auth on', () => {
  // The legacy fixture's master key, so that its v1 record opens on this node.
  const cluster = testCluster('acct-seal');
  const secret = randomBytes(32).toString('hex');
  let node: HwayNode;
  let tokens: TokenService;
  let redis: Redis;
  const t: Record<string, string> = {};
  const rec = records(cluster, () => redis);

  beforeAll(async () => {
    // A short passivation, so that a record rewritten in Redis is read again by the next request.
    node = cluster.node({ tokenSecret: secret, masterKeys: legacy.masterKey, passivateMs: 300 });
    await node.start();
    redis = testRedis();
    tokens = new TokenService({ redis: REDIS, secret, prefix: cluster.prefix, subscribe: false });
    for (const account of ['alice', 'bob']) t[account] = (await tokens.issue({ account, perm: 'admin', ttlSec: 600 })).token;
  });
  afterAll(async () => {
    await tokens?.close();
    await redis?.quit();
    await cluster.cleanup();
  });

  test("rewriting a vault's account in Redis gains nothing: every operation is refused by the enclave", async () => {
    const alice = cluster.client({ token: t.alice! });
    const bob = cluster.client({ token: t.bob! });
    const v = await alice.vault.generate('owned-by-alice');
    expect(unhex((await rec.get('owned-by-alice')).sealed!)).toHaveLength(97);
    expect(await errorCode(bob.vault.sign('owned-by-alice', digest))).toBe('E_FORBIDDEN'); // the record check

    await rec.setAccount('owned-by-alice', 'bob');
    await passivated(node);
    const tampered = await rec.get('owned-by-alice');
    expect(await refusal(bob.vault.sign('owned-by-alice', digest))).toMatch(BY_ENCLAVE);
    expect(await refusal(bob.vault.refresh('owned-by-alice'))).toMatch(BY_ENCLAVE);
    expect(await refusal(bob.vault.export('owned-by-alice', PASSWORD))).toMatch(BY_ENCLAVE);
    expect(await refusal(bob.vault.info('owned-by-alice'))).toMatch(BY_ENCLAVE);
    expect(await refusal(bob.vault.delete('owned-by-alice'))).toMatch(BY_ENCLAVE);
    expect(await rec.get('owned-by-alice')).toEqual(tampered); // nothing written: same seal, epoch, version

    // Alice is locked out only while the field is wrong (denial of service is all Redis access buys).
    expect(await errorCode(alice.vault.sign('owned-by-alice', digest))).toBe('E_FORBIDDEN');
    await rec.setAccount('owned-by-alice', 'alice');
    await passivated(node);
    expect(verifies((await alice.vault.sign('owned-by-alice', digest)).signature, v.publicKey)).toBe(true);
  });

  test('a record sealed without an account keeps working, and vault:refresh binds it to its account', async () => {
    const vaultId = legacy.vaultId;
    const { partition, fence } = await cluster.fence(vaultId);
    const publicKey = unhex(legacy.publicKey);
    await node.store.create(partition, fence, { vaultId, account: 'alice', sealed: unhex(legacy.sealedEpoch1), publicKey, addresses: addressesOf(publicKey), epoch: 1 });
    const alice = cluster.client({ token: t.alice! });
    const bob = cluster.client({ token: t.bob! });
    expect((await alice.vault.sign(vaultId, legacyDigest)).signature).toBe(legacy.signature);

    // Unbound, a rewritten account would let bob sign; the refresh is what closes that.
    expect(await alice.vault.refresh(vaultId)).toEqual({ vaultId, epoch: 2, publicKey: legacy.publicKey });
    const upgraded = await rec.get(vaultId);
    const sealed = unhex(upgraded.sealed!);
    expect([sealed.length, sealed[0], upgraded.epoch, upgraded.account]).toEqual([97, 2, '2', 'alice']);
    expect(openOnHost(sealed, { vaultId, account: 'alice' }, legacyKey.key)).not.toBeNull();
    expect(openOnHost(sealed, { vaultId, account: 'bob' }, legacyKey.key)).toBeNull();
    expect((await alice.vault.sign(vaultId, legacyDigest)).signature).toBe(legacy.signature);

    await rec.setAccount(vaultId, 'bob');
    await passivated(node);
    const tampered = await rec.get(vaultId);
    expect(await refusal(bob.vault.sign(vaultId, legacyDigest))).toMatch(BY_ENCLAVE);
    expect(await refusal(bob.vault.refresh(vaultId))).toMatch(BY_ENCLAVE);
    expect(await rec.get(vaultId)).toEqual(tampered);
  });
});

describe("a node with auth off ('*': the record's account, Redis trusted)", () => {
  const cluster = testCluster('acct-seal-open');
  let node: HwayNode;
  let redis: Redis;
  const rec = records(cluster, () => redis);

  beforeAll(async () => {
    node = cluster.node({ passivateMs: 300 });
    await node.start();
    redis = testRedis();
  });
  afterAll(async () => {
    await redis?.quit();
    await cluster.cleanup();
  });

  test("seals bind the record's account; a rewritten one fails closed until it is put back", async () => {
    const client = cluster.client();
    const v = await client.vault.generate('open-vault');
    const created = await rec.get('open-vault');
    expect(created.account).toBe('default');
    expect(openOnHost(unhex(created.sealed!), { vaultId: 'open-vault', account: 'default' }, parseMasterKeys(cluster.masterKey).keys[0]!.key)).not.toBeNull();
    await rec.setAccount('open-vault', 'mallory');
    await passivated(node);
    expect(await refusal(client.vault.sign('open-vault', digest))).toMatch(BY_ENCLAVE);
    await rec.setAccount('open-vault', 'default');
    await passivated(node);
    expect(verifies((await client.vault.sign('open-vault', digest)).signature, v.publicKey)).toBe(true);
  });

  test("a v1 record is refreshed into a seal bound to the record's account", async () => {
    const mk = parseMasterKeys(cluster.masterKey).keys[0]!;
    const sk = Uint8Array.from(randomBytes(32));
    const publicKey = secp256k1.getPublicKey(sk, true);
    const { partition, fence } = await cluster.fence('open-legacy');
    const sealed = sealV1OnHost(sk, 'open-legacy', mk.key, mk.id);
    await node.store.create(partition, fence, { vaultId: 'open-legacy', account: 'team', sealed, publicKey, addresses: addressesOf(publicKey), epoch: 0 });
    const client = cluster.client();
    expect(verifies((await client.vault.sign('open-legacy', digest)).signature, hex(publicKey))).toBe(true);
    await client.vault.refresh('open-legacy');
    const next = unhex((await rec.get('open-legacy')).sealed!);
    expect(isAccountBound(next)).toBe(true);
    expect(hex(openOnHost(next, { vaultId: 'open-legacy', account: 'team' }, mk.key)!)).toBe(hex(sk));
    expect(openOnHost(next, { vaultId: 'open-legacy', account: 'default' }, mk.key)).toBeNull();
  });

  test('a seal that no longer opens at all (damaged) refuses to sign, and can still be deleted', async () => {
    const client = cluster.client();
    await client.vault.generate('damaged');
    const good = await rec.get('damaged');
    const sealed = unhex(good.sealed!);
    sealed[sealed.length - 20]! ^= 1; // a ciphertext byte: the AEAD tag fails (E_CORRUPT), not the account check
    await redis.hset(rec.key('damaged'), 'sealed', hex(sealed));
    await passivated(node);
    expect(await errorCode(client.vault.sign('damaged', digest))).toBe('E_CORRUPT');
    expect(await client.vault.delete('damaged')).toEqual({ vaultId: 'damaged', deleted: true });
    expect(await errorCode(client.vault.info('damaged'))).toBe('E_UNKNOWN_VAULT');
  });
});
