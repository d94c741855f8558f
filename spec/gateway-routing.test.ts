// Routing: failover when a wallet dies mid-request, eviction after missed heartbeats, deadlines with
// cancellation, a wallet that answers garbage, bounded per-wallet queues, addresses added and removed
// while connected, and the runtime's vaults as signers. Wallets are separate processes with real keys.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startGateway, nobleVerifier, type Gateway, type VaultSigners } from '../actors/gateway/gateway.js';
import { GatewayClient } from '../actors/gateway/producer.js';
import { GwKeys } from '../actors/gateway/keys.js';
import { HwayError } from '../errors.js';
import { HANG_MS } from './helpers/deadlines.js';
import { REDIS, testRedis, cleanup, newKey, quietLogger, spawnWallet, testPrefix, waitFor, type Child, type Key } from './fixtures/wallet-helpers.js';

const prefix = testPrefix('routing');
let redis: Redis;
let gw: Gateway;
let client: GatewayClient;
const children: Child[] = [];
const vaultKey = newKey();

// The vault runtime's resolver, backed by a real key (in the runtime: the vault actor and its enclave).
const vaults: VaultSigners = {
  lookup: async (account, address) => (account === 'default' && (address === vaultKey.addr.eth || address === vaultKey.addr.fil) ? 'vault-1' : null),
  sign: async (vaultId, digest) => {
    if (vaultId !== 'vault-1') throw new HwayError('E_UNKNOWN_VAULT', vaultId);
    const s = secp256k1.sign(digest, vaultKey.sk, { prehash: false, format: 'recovered' });
    return { signature: s.subarray(1), recovery: s[0]! };
  },
};

function wallet(key: Key, extra: Record<string, unknown> = {}): Child {
  const c = spawnWallet({ redis: REDIS, prefix, keys: [key.skHex], ...extra });
  children.push(c);
  return c;
}

function verifies(r: { signature: string }, digest: Uint8Array, key: Key): boolean {
  return secp256k1.verify(Buffer.from(r.signature, 'hex'), digest, key.pk, { prehash: false });
}

beforeAll(async () => {
  redis = testRedis();
  // No token secret: auth off, everything in account "default" (auth is covered in gateway-auth).
  gw = await startGateway({
    redis: REDIS,
    prefix,
    logger: quietLogger(),
    heartbeatMs: 300,
    // Hang-only: a request that fails over must do so on the wallet's disconnection; waiting out the
    // attempt timeout instead would hang the test rather than pass it slowly.
    attemptTimeoutMs: HANG_MS,
    maxInFlightPerWallet: 2,
    vaultSigners: vaults,
    verifier: nobleVerifier,
  });
  client = new GatewayClient({ redis: REDIS, prefix, timeoutMs: HANG_MS });
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop()));
  await client?.close();
  await gw?.stop();
  await cleanup(redis, prefix);
  redis.disconnect();
});

describe('gateway routing', () => {
  test('a wallet killed mid-request: the request fails over to the other wallet of the address', async () => {
    const key = newKey();
    // Both hold their requests: the victim is certainly mid-request when it dies, however slow the kill.
    const a = wallet(key, { hold: true });
    const b = wallet(key, { hold: true });
    const [ea, eb] = await Promise.all([a.next('connected'), b.next('connected')]);
    const digest = randomBytes(32);
    const pending = client.walletSign(key.addr.eth, digest);
    await waitFor(() => a.count('request') + b.count('request') > 0, 'a wallet to receive the request');
    const [victim, survivor, survivorId] = a.count('request') > 0 ? [a, b, eb.connId] : [b, a, ea.connId];
    await victim.kill('SIGKILL');
    // Failed over on the disconnection: the attempt timeout is hang-only here (see beforeAll).
    await survivor.next('request');
    survivor.send({ cmd: 'release' });
    const r = await pending;
    expect(r.via).toBe(survivorId);
    expect(survivor.count('request')).toBe(1);
    expect(verifies(r, digest, key)).toBe(true);
    expect(gw.stats().failovers).toBeGreaterThanOrEqual(1);
    // The dead one is out of routing.
    await waitFor(async () => (await redis.smembers(new GwKeys(prefix).route('addr', 'default', key.addr.eth))).length === 1, 'route cleanup');
  });

  test('load goes to the wallet with the fewest requests in flight, ties to the smallest id', async () => {
    const key = newKey();
    const a = wallet(key);
    const b = wallet(key);
    const [ea, eb] = await Promise.all([a.next('connected'), b.next('connected')]);
    // Idle: the tie goes to the smaller connection id, every time.
    const first = [String(ea.connId), String(eb.connId)].sort()[0];
    for (let i = 0; i < 2; i++) expect((await client.walletSign(key.addr.eth, randomBytes(32))).via).toBe(first);
    // Two at once: the second goes to the wallet that has nothing in flight. The wallets hold both
    // requests until both have been routed, so the first is still in flight when the second is routed,
    // whatever the machine's speed.
    a.send({ cmd: 'hold' });
    b.send({ cmd: 'hold' });
    await Promise.all([a.next('holding'), b.next('holding')]);
    const seen = a.count('request') + b.count('request');
    const both = Promise.all([0, 1].map(() => client.walletSign(key.addr.eth, randomBytes(32))));
    await waitFor(() => a.count('request') + b.count('request') === seen + 2, 'both requests to reach a wallet');
    a.send({ cmd: 'release' });
    b.send({ cmd: 'release' });
    expect(new Set((await both).map((r) => r.via))).toEqual(new Set([ea.connId, eb.connId]));
  });

  test('a wallet that stops sending heartbeats is evicted', async () => {
    const key = newKey();
    const w = wallet(key);
    await w.next('connected');
    expect(await client.walletHas(key.addr.eth)).toBe(true);
    const paused = Date.now();
    w.send({ cmd: 'pause-heartbeats' });
    await waitFor(async () => !(await client.walletHas(key.addr.eth)), 'eviction');
    // Not before its liveness lapsed (3 heartbeats of 300 ms, less the one that just refreshed it).
    expect(Date.now() - paused).toBeGreaterThanOrEqual(500);
    await expect(client.walletSign(key.addr.eth, randomBytes(32))).rejects.toMatchObject({ code: 'E_NO_WALLET' });
    expect(gw.stats().evicted).toBeGreaterThanOrEqual(1);
  });

  test('a request past its deadline fails with E_TIMEOUT and the wallet is told to cancel', async () => {
    const key = newKey();
    // The wallet never answers and the attempt timeout is hang-only: the E_TIMEOUT can only come from
    // the request's own 700 ms deadline (a short timeout that is the behaviour under test).
    const w = wallet(key, { hold: true });
    await w.next('connected');
    await expect(client.walletSign(key.addr.eth, randomBytes(32), { type: 'raw' }, { timeoutMs: 700 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    await w.next('cancelled');
  });

  test('a wallet answering signatures that do not verify is skipped for a good one', async () => {
    const key = newKey();
    const bad = wallet(key, { garbage: true });
    await bad.next('connected');
    await expect(client.walletSign(key.addr.eth, randomBytes(32))).rejects.toMatchObject({ code: 'E_INTERNAL' });
    // Checked for the hashes the gateway knows too.
    await expect(client.walletSign(key.addr.eth, Buffer.from('a message'), { type: 'sha256' })).rejects.toMatchObject({ code: 'E_INTERNAL' });
    const good = wallet(key);
    const eg = await good.next('connected');
    const digest = randomBytes(32);
    const r = await client.walletSign(key.addr.eth, digest);
    expect(r.via).toBe(eg.connId);
    expect(verifies(r, digest, key)).toBe(true);
    const m = await client.walletSign(key.addr.eth, Buffer.from('a message'), { type: 'keccak256' });
    expect(m.via).toBe(eg.connId);
  });

  test('per-wallet queues are bounded: E_WALLET_BUSY', async () => {
    const key = newKey();
    // The wallet holds what it gets, so two requests stay in flight until released: the third finds
    // the wallet full whatever the machine's speed.
    const w = wallet(key, { hold: true });
    await w.next('connected');
    let settled = 0;
    const calls = [0, 1, 2].map(async () => {
      const code = await client.walletSign(key.addr.eth, randomBytes(32)).then(() => 'ok', (e: HwayError) => e.code);
      settled++;
      return code;
    });
    // Either the third is refused, or (a bug) all three reached the wallet.
    await waitFor(() => settled > 0 || w.count('request') > 2, 'the third request to be refused');
    w.send({ cmd: 'release' });
    const codes = await Promise.all(calls);
    expect(codes.filter((c) => c === 'ok').length).toBe(2);
    expect(codes.filter((c) => c === 'E_WALLET_BUSY').length).toBe(1);
  });

  test('addresses added and removed while connected', async () => {
    const k1 = newKey();
    const k2 = newKey();
    const w = wallet(k1);
    await w.next('connected');
    expect(await client.walletHas(k2.addr.eth)).toBe(false);
    w.send({ cmd: 'add', keys: [k2.skHex] });
    expect((await w.next('added')).accepted).toEqual([k2.addr.eth]);
    expect(await client.walletHas(k2.addr.fil)).toBe(true);
    const digest = randomBytes(32);
    expect(verifies(await client.walletSign(k2.addr.eth, digest), digest, k2)).toBe(true);
    w.send({ cmd: 'remove', addresses: [k1.addr.eth] });
    await w.next('removed');
    await waitFor(async () => !(await client.walletHas(k1.addr.fil)), 'removal');
    expect(await client.walletHas(k2.addr.eth)).toBe(true);
  });

  test("a vault of the runtime signs for its address when no wallet holds it", async () => {
    expect(await client.walletHas(vaultKey.addr.eth)).toBe(true);
    const digest = randomBytes(32);
    const r = await client.walletSign(vaultKey.addr.fil, digest, { type: 'raw' });
    expect(r.via).toBe('vault:vault-1');
    expect(verifies(r, digest, vaultKey)).toBe(true);
    const msg = Buffer.from('hello');
    const r2 = await client.walletSign(vaultKey.addr.eth, msg, { type: 'sha256' });
    expect(secp256k1.verify(Buffer.from(r2.signature, 'hex'), msg, vaultKey.pk)).toBe(true); // prehash sha256
    await expect(client.walletSign(vaultKey.addr.eth, msg, { type: 'eip712' })).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
  });
});
