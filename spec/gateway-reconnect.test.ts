// Reconnection: a wallet that finds no gateway retries with growing, jittered waits and connects once
// a node starts; a wallet whose connection was evicted reconnects with a new id and a new handshake.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { startGateway, nobleVerifier, type Gateway } from '../actors/gateway/gateway.js';
import { GatewayClient } from '../actors/gateway/producer.js';
import { GwKeys } from '../actors/gateway/keys.js';
import { HANG_MS } from './helpers/deadlines.js';
import { REDIS, testRedis, cleanup, newKey, quietLogger, spawnWallet, testPrefix, waitFor, type Child } from './fixtures/wallet-helpers.js';

const prefix = testPrefix('reconnect');
const keys = new GwKeys(prefix);
let redis: Redis;
let gw: Gateway | undefined;
let client: GatewayClient;
const children: Child[] = [];

beforeAll(() => {
  redis = testRedis();
  // Requests are ordinary work: the client's deadline is hang-only.
  client = new GatewayClient({ redis: REDIS, prefix, timeoutMs: HANG_MS });
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop()));
  await client?.close();
  await gw?.stop();
  await cleanup(redis, prefix);
  redis.disconnect();
});

describe('wallet reconnection', () => {
  test('no gateway yet: retries with exponential backoff and jitter, then connects', async () => {
    const key = newKey();
    // No gateway answers, so each handshake round ends at its timeout: a short one is the behaviour
    // under test here. The waits between attempts grow (base 50 ms, cap 1 s).
    const w = spawnWallet({ redis: REDIS, prefix, keys: [key.skHex], handshakeTimeoutMs: 3000 });
    children.push(w);
    await waitFor(() => w.count('retry') >= 2, 'two retries');
    const waits = w.events.filter((e) => e.ev === 'retry').map((e) => e.waitMs as number);
    expect(waits[0]).toBeGreaterThanOrEqual(25);
    expect(waits[0]).toBeLessThanOrEqual(50);
    expect(waits[1]).toBeGreaterThanOrEqual(50);
    expect(waits[1]).toBeLessThanOrEqual(100);
    gw = await startGateway({ redis: REDIS, prefix, logger: quietLogger(), heartbeatMs: 300, verifier: nobleVerifier });
    await w.next('connected');
    expect(await client.walletHas(key.addr.eth)).toBe(true);
  });

  test('an evicted wallet reconnects with a new connection id and serves again', async () => {
    const key = newKey();
    const w = spawnWallet({ redis: REDIS, prefix, keys: [key.skHex] });
    children.push(w);
    const first = await w.next('connected');
    // The gateway's view of the connection lapses (as after a network partition longer than 3 heartbeats).
    await redis.del(keys.conn(String(first.connId)));
    await w.next('disconnected');
    const second = await w.next('connected', (e) => e.connId !== first.connId);
    expect(second.connId).not.toBe(first.connId);
    await waitFor(async () => (await client.walletHas(key.addr.eth)) === true, 'route back');
    const r = await client.walletSign(key.addr.eth, randomBytes(32));
    expect(r.via).toBe(second.connId);
    // The old connection is gone from routing.
    await waitFor(async () => !(await redis.sismember(keys.conns(), String(first.connId))), 'old connection swept');
  });
});
