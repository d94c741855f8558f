// Auth on the vault path: with a token secret, every vault task needs a token, acts for its account
// only, needs the permission of its type, and is rate limited; a vault's address reaches its actor
// through the gateway only for its own account: in process on the node that owns it, else by a
// vault:sign task under a node credential of that account.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createHash, randomBytes } from 'node:crypto';
import { HwayClient } from '../actors/client.js';
import { TokenService } from '../actors/gateway/tokens.js';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { HwayError } from '../errors.js';
import { vaultSigners } from '../actors/vault/signers.js';
import { HANG_ONLY, REDIS, testCluster } from './helpers/node.js';
import { errorCode } from './helpers/errors.js';
import { HANG_MS } from './helpers/deadlines.js';

const cluster = testCluster('auth');
const secret = randomBytes(32).toString('hex');
let node: HwayNode;
let tokens: TokenService;
const t: Record<string, string> = {};
const digest = createHash('sha256').update('auth').digest();

beforeAll(async () => {
  // A token's bucket holds 40 and refills so slowly (one per 100 s) that how long the requests below
  // take to be served does not change how many of them pass.
  node = cluster.node({ tokenSecret: secret, gateway: { rateLimits: { token: { rate: 0.01, burst: 40 }, account: { rate: 1000, burst: 1000 } } } });
  await node.start();
  tokens = new TokenService({ redis: REDIS, secret, prefix: cluster.prefix, subscribe: false });
  for (const [name, account, perm] of [
    ['alice', 'alice', 'admin'],
    ['aliceRead', 'alice', 'read'],
    ['bob', 'bob', 'admin'],
    ['revoked', 'alice', 'admin'],
  ] as const) {
    t[name] = (await tokens.issue({ account, perm, ttlSec: 600 })).token;
  }
});
afterAll(async () => {
  await tokens?.close();
  await cluster.cleanup();
});


test('tokens, permissions and account isolation on vault tasks', async () => {
  const anon = cluster.client();
  const alice = cluster.client({ token: t.alice! });
  const aliceRead = cluster.client({ token: t.aliceRead! });
  const bob = cluster.client({ token: t.bob! });

  expect(await errorCode(anon.vault.generate('a1'))).toBe('E_UNAUTHORIZED');
  // A bare JWT (no request key) is refused before anything is sent; a wrong request key by the node.
  expect(() => cluster.client({ token: 'not.a.jwt' })).toThrow(expect.objectContaining({ code: 'E_UNAUTHORIZED' }));
  const wrongKey = `${t.alice!.slice(0, t.alice!.lastIndexOf('.'))}.${Buffer.alloc(32, 7).toString('base64url')}`;
  expect(await errorCode(cluster.client({ token: wrongKey }).vault.generate('a1'))).toBe('E_UNAUTHORIZED');
  expect(await errorCode(aliceRead.vault.generate('a1'))).toBe('E_FORBIDDEN'); // read < write

  const v = await alice.vault.generate('a1');
  expect((await alice.vault.info('a1')).account).toBe('alice');
  expect(await errorCode(aliceRead.vault.sign('a1', digest))).toBe('E_FORBIDDEN'); // read < sign
  expect((await aliceRead.vault.info('a1')).vaultId).toBe('a1'); // read is enough to look
  expect(await errorCode(bob.vault.sign('a1', digest))).toBe('E_FORBIDDEN'); // another account
  expect(await errorCode(bob.vault.export('a1', 'bob wants this key'))).toBe('E_FORBIDDEN');
  const s = await alice.vault.sign('a1', digest);
  expect(secp256k1.verify(Buffer.from(s.signature, 'hex'), digest, Buffer.from(v.publicKey, 'hex'), { prehash: false })).toBe(true);

  // Bob's vault of the same name space is his own.
  await bob.vault.generate('b1');
  expect(await errorCode(alice.vault.refresh('b1'))).toBe('E_FORBIDDEN');

  // Revocation: refused from then on.
  const revoked = cluster.client({ token: t.revoked! });
  await revoked.vault.info('a1');
  const jti = (await tokens.verifyToken(t.revoked!)).jti;
  await tokens.revoke(jti);
  await new Promise((r) => setTimeout(r, 1100));
  expect(await errorCode(revoked.vault.info('a1'))).toBe('E_UNAUTHORIZED');
});

test("through the gateway, a vault's address signs for its own account only", async () => {
  const alice = cluster.client({ token: t.alice! });
  const bob = cluster.client({ token: t.bob! });
  const v = await alice.vault.generate('gw-a');
  expect(await alice.walletHas(v.addresses.eth)).toBe(true);
  expect(await bob.walletHas(v.addresses.eth)).toBe(false);
  const r = await alice.walletSign(v.addresses.fil, digest, undefined, { timeoutMs: HANG_MS });
  expect(r.via).toBe('vault:gw-a');
  expect(secp256k1.verify(Buffer.from(r.signature, 'hex'), digest, Buffer.from(v.publicKey, 'hex'), { prehash: false })).toBe(true);
  expect(await errorCode(bob.walletSign(v.addresses.eth, digest))).toBe('E_NO_WALLET');
});

test("a node that does not own the vault signs through a task under a node credential of the producer's account", async () => {
  const alice = cluster.client({ token: t.alice! });
  const v = await alice.vault.generate('gw-remote');
  // No in-process path: as on a node that does not own the vault's partition.
  const issuer = new TokenService({ redis: REDIS, secret, prefix: cluster.prefix, subscribe: false });
  const remote = vaultSigners(node.store, cluster.client(), issuer);
  try {
    const r = await remote.sign('gw-remote', digest, { type: 'raw' }, 'alice');
    expect(secp256k1.verify(r.signature, digest, Buffer.from(v.publicKey, 'hex'), { prehash: false })).toBe(true);
    expect(await errorCode(remote.sign('gw-remote', digest, { type: 'raw' }, 'bob'))).toBe('E_FORBIDDEN');
  } finally {
    await issuer.close();
  }
});

test('vault tasks are rate limited per token, with a retry-after', async () => {
  const fresh = (await tokens.issue({ account: 'carol', perm: 'admin', ttlSec: 600 })).token;
  const carol = new HwayClient({ redis: REDIS, ...HANG_ONLY, prefix: cluster.prefix, partitions: cluster.partitions, token: fresh, callTimeoutMs: HANG_MS });
  try {
    await carol.vault.generate('c1');
    const results = await Promise.allSettled(Array.from({ length: 80 }, () => carol.vault.info('c1')));
    const limited = results.filter((r) => r.status === 'rejected' && (r.reason as HwayError).code === 'E_RATE_LIMITED');
    expect(limited.length).toBeGreaterThan(0);
    expect((limited[0] as PromiseRejectedResult).reason.message).toMatch(/retry after \d+ ms/);
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(30); // the burst passed
  } finally {
    await carol.close();
  }
});
