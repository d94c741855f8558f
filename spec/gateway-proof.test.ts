// Proof workers: requests are routed to a connected worker of the asked miner (separate processes),
// with the same failover as wallets; miners are listed per account.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { startGateway, nobleVerifier, type Gateway } from '../actors/gateway/gateway.js';
import { GatewayClient } from '../actors/gateway/producer.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { HANG_MS } from './helpers/deadlines.js';
import { REDIS, testRedis, SECRET, cleanup, quietLogger, spawnWallet, testPrefix, waitFor, type Child } from './fixtures/wallet-helpers.js';

const prefix = testPrefix('proof');
let redis: Redis;
let gw: Gateway;
let tokens: TokenService;
let client: GatewayClient;
let other: GatewayClient;
let workerToken: string;
const children: Child[] = [];

function worker(name: string, miners: string[], extra: Record<string, unknown> = {}): Child {
  const c = spawnWallet({ redis: REDIS, prefix, token: workerToken, mode: 'proof', miners, name, ...extra });
  children.push(c);
  return c;
}

beforeAll(async () => {
  redis = testRedis();
  tokens = new TokenService({ redis: REDIS, secret: SECRET, prefix, subscribe: false, logger: quietLogger() });
  workerToken = (await tokens.issue({ account: 'storage', perm: 'sign', ttlSec: 600 })).token;
  // Hang-only attempt timeout: a request that fails over must do so on the worker's disconnection.
  gw = await startGateway({ redis: REDIS, prefix, tokenSecret: SECRET, logger: quietLogger(), heartbeatMs: 300, attemptTimeoutMs: HANG_MS, verifier: nobleVerifier });
  // Requests are ordinary work: the clients' deadlines are hang-only.
  client = new GatewayClient({ redis: REDIS, prefix, timeoutMs: HANG_MS, token: (await tokens.issue({ account: 'storage', perm: 'sign', ttlSec: 600 })).token });
  other = new GatewayClient({ redis: REDIS, prefix, timeoutMs: HANG_MS, token: (await tokens.issue({ account: 'elsewhere', perm: 'sign', ttlSec: 600 })).token });
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop()));
  await client?.close();
  await other?.close();
  await gw?.stop();
  await tokens?.close();
  await cleanup(redis, prefix);
  redis.disconnect();
});

describe('proof workers', () => {
  test("requests reach the asked miner's worker", async () => {
    const a = worker('A', ['f01000', 'f01001']);
    const b = worker('B', ['f02000']);
    const [ea, eb] = await Promise.all([a.next('connected'), b.next('connected')]);
    expect(ea.accepted).toEqual(['f01000', 'f01001']);
    expect(await client.listConnectedMiners()).toEqual(['f01000', 'f01001', 'f02000']);
    expect(await client.listMinerConnection('f02000')).toEqual({ miner: 'f02000', connections: [{ id: eb.connId, inFlight: 0 }] });

    const randomness = randomBytes(32);
    const sectors = [{ sectorNumber: 7, sealedCid: 'bagboea4b5abc' }];
    const pa = (await client.computeProof('f01001', sectors, randomness)) as Record<string, unknown>;
    expect(pa.worker).toBe('A');
    expect(pa.proof).toBe(createHash('sha256').update(randomness).update('f01001').digest('hex'));
    expect(pa.sectors).toEqual(sectors);
    const pb = (await client.computeProof('f02000', [], randomness)) as Record<string, unknown>;
    expect(pb.worker).toBe('B');
    expect(a.count('request')).toBe(1);
    expect(b.count('request')).toBe(1);

    await expect(client.computeProof('f09999', [], randomness)).rejects.toMatchObject({ code: 'E_NO_WALLET' });
    await expect(client.computeProof('not-a-miner', [], randomness)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    // Another account sees none of them.
    expect(await other.listConnectedMiners()).toEqual([]);
    await expect(other.computeProof('f01000', [], randomness)).rejects.toMatchObject({ code: 'E_NO_WALLET' });
  });

  test('a proof worker killed mid-request fails over to another worker of the miner', async () => {
    // Both hold their requests: the victim is certainly mid-request when it dies, however slow the kill.
    const slow1 = worker('C1', ['f03000'], { hold: true });
    const slow2 = worker('C2', ['f03000'], { hold: true });
    await Promise.all([slow1.next('connected'), slow2.next('connected')]);
    expect((await client.listMinerConnection('f03000')).connections).toHaveLength(2);
    const pending = client.computeProof('f03000', [], randomBytes(32));
    await waitFor(() => slow1.count('request') + slow2.count('request') > 0, 'a worker to receive the request');
    const [victim, survivor] = slow1.count('request') > 0 ? [slow1, slow2] : [slow2, slow1];
    await victim.kill('SIGKILL');
    await survivor.next('request');
    survivor.send({ cmd: 'release' });
    const r = (await pending) as Record<string, unknown>;
    expect(r.worker).toBe(survivor === slow1 ? 'C1' : 'C2');
  });
});
