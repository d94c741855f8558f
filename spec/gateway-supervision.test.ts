// Supervision of wallet actors, in a node (the gateway's actors live in the node's one actor system):
// a wallet actor that crashes drops its connection cleanly. The request it had in flight fails over
// to the other wallet serving the address (or, with no other, fails with a clear E_NO_WALLET), the
// crashed connection's routes are gone from Redis, its wallet is told and reconnects, and the node
// keeps serving.
//
// Nothing a wallet or Redis sends crashes a wallet actor (its handler answers or drops bad input), so
// the crash is made with the actor's documented test hook (wallet-actor.ts walletActorTestHook): it
// throws while the actor handles the victim's answer, as a bug in the handler would. Everything after
// the throw is the real supervision path. Wallets are separate processes holding real keys; they hold
// each request until told to answer, so every step happens in a known order whatever the machine's speed.
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { GatewayClient } from '../actors/gateway/producer.js';
import { GwKeys } from '../actors/gateway/keys.js';
import { nobleVerifier } from '../actors/gateway/verify.js';
import { walletActorTestHook } from '../actors/gateway/wallet-actor.js';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { HANG_MS } from './helpers/deadlines.js';
import { testCluster } from './helpers/node.js';
import { REDIS, capturingLogger, newKey, spawnWallet, testRedis, waitFor, type Child, type Ev, type Key } from './fixtures/wallet-helpers.js';

const cluster = testCluster('gw-supervision');
const keys = new GwKeys(cluster.prefix);
let node: HwayNode;
let redis: Redis;
let client: GatewayClient;
const children: Child[] = [];
const logged = capturingLogger('warn');
// Two wallets serving one key, and one wallet alone with another; started once the node serves.
const shared = newKey();
const lone = newKey();
let a: Child;
let b: Child;
let w: Child;

function wallet(key: Key): Child {
  const c = spawnWallet({ redis: REDIS, prefix: cluster.prefix, keys: [key.skHex], hold: true });
  children.push(c);
  return c;
}

const verifies = (r: { signature: string }, digest: Uint8Array, key: Key): boolean => secp256k1.verify(Buffer.from(r.signature, 'hex'), digest, key.pk, { prehash: false });
const routeOf = (key: Key): Promise<string[]> => redis.smembers(keys.route('addr', 'default', key.addr.eth));

const crashLogged = (conn: string): boolean => logged.lines.some((l) => l.includes('"message":"actor crashed"') && l.includes(conn));

/** Crashes the actor of `conn` when it handles its next wallet answer; counts the crashes made. */
function crashOnAnswer(conn: string): { count: number } {
  const made = { count: 0 };
  walletActorTestHook.beforeMessage = (c, kind) => {
    if (c !== conn || kind !== 'reply') return;
    made.count++;
    throw new Error('injected crash (test hook)');
  };
  return made;
}

beforeAll(async () => {
  redis = testRedis();
  // Auth off (covered elsewhere): every wallet and request is in account "default". The attempt
  // timeout is hang-only: a failover here can only come from the crash, never from a timeout.
  node = cluster.node({ logger: logged.logger, gateway: { heartbeatMs: 300, attemptTimeoutMs: HANG_MS, verifier: nobleVerifier } });
  await node.start();
  client = new GatewayClient({ redis: REDIS, prefix: cluster.prefix, timeoutMs: HANG_MS });
  [a, b, w] = [wallet(shared), wallet(shared), wallet(lone)];
});

afterEach(() => {
  walletActorTestHook.beforeMessage = undefined;
});

afterAll(async () => {
  walletActorTestHook.beforeMessage = undefined;
  await Promise.all(children.map((c) => c.stop()));
  await client?.close();
  await cluster.cleanup();
  redis?.disconnect();
});

describe('wallet actor supervision', () => {
  test('a crashed wallet actor: its request is answered by the other wallet, its routes are gone, the node keeps serving', async () => {
    const key = shared;
    const [ea, eb] = await Promise.all([a.next('connected'), b.next('connected')]);
    expect((await routeOf(key)).sort()).toEqual([String(ea.connId), String(eb.connId)].sort());
    const failoversBefore = (await node.stats()).gateway!.failovers;

    const digest = randomBytes(32);
    const pending = client.walletSign(key.addr.eth, digest);
    await waitFor(() => a.count('request') + b.count('request') > 0, 'a wallet to receive the request');
    const [victim, victimId, survivor, survivorId] = a.count('request') > 0 ? [a, String(ea.connId), b, String(eb.connId)] : [b, String(eb.connId), a, String(ea.connId)];
    const crashes = crashOnAnswer(victimId);
    victim.send({ cmd: 'release' }); // its answer crashes its actor
    await survivor.next('request');
    survivor.send({ cmd: 'release' });
    const r = await pending;
    expect(crashes.count).toBe(1);
    expect(crashLogged(victimId)).toBe(true);
    expect(r.via).toBe(survivorId);
    expect(verifies(r, digest, key)).toBe(true);
    expect((await node.stats()).gateway!.failovers).toBe(failoversBefore + 1);

    // Dropped cleanly: out of routing everywhere, its record gone, and the wallet told (it reconnects
    // with a new connection id and a new handshake).
    await waitFor(async () => !(await routeOf(key)).includes(victimId), "the crashed connection's routes to go");
    expect(await routeOf(key)).toContain(survivorId);
    expect(await redis.exists(keys.conn(victimId), keys.connInfo(victimId))).toBe(0);
    expect(await redis.sismember(keys.conns(), victimId)).toBe(0);
    const again: Ev = await victim.next('connected', (e) => e.connId !== victimId);

    // The node keeps serving: both wallets, the new connection among them, sign again.
    walletActorTestHook.beforeMessage = undefined;
    await waitFor(async () => (await routeOf(key)).includes(String(again.connId)), 'the new connection to be routed');
    // Both hold again, so that the first request is still in flight when the second is routed.
    a.send({ cmd: 'hold' });
    b.send({ cmd: 'hold' });
    await Promise.all([a.next('holding'), b.next('holding')]);
    const seen = a.count('request') + b.count('request');
    const two = [randomBytes(32), randomBytes(32)];
    const both = Promise.all(two.map((d) => client.walletSign(key.addr.eth, d)));
    await waitFor(() => a.count('request') + b.count('request') === seen + 2, 'both requests to reach a wallet');
    a.send({ cmd: 'release' });
    b.send({ cmd: 'release' });
    const results = await both;
    results.forEach((res, i) => expect(verifies(res, two[i]!, key)).toBe(true));
    expect(new Set(results.map((res) => res.via))).toEqual(new Set([survivorId, String(again.connId)]));
  });

  test('a crashed wallet actor with no other wallet for the address: its request fails with a clear E_NO_WALLET', async () => {
    const key = lone;
    const e = await w.next('connected');
    const conn = String(e.connId);
    const pending = client.walletSign(key.addr.eth, randomBytes(32));
    await w.next('request');
    const crashes = crashOnAnswer(conn);
    w.send({ cmd: 'release' });
    await expect(pending).rejects.toMatchObject({ code: 'E_NO_WALLET', message: expect.stringMatching(/crashed/) });
    expect(crashes.count).toBe(1);
    expect(crashLogged(conn)).toBe(true);
    await waitFor(async () => !(await routeOf(key)).includes(conn), "the crashed connection's routes to go");
  });
});
