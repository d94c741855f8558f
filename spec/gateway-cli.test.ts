// `hway token` and `hway wallet` command modules against a real gateway and a wallet (in-process
// library here; the process-level behaviour is covered by the other gateway tests).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startGateway, nobleVerifier, type Gateway } from '../actors/gateway/gateway.js';
import { WalletConnector, localKeyWallet } from '../actors/gateway/connector.js';
import { command as token } from '../bin/commands/token.js';
import { command as wallet } from '../bin/commands/wallet.js';
import { WAIT } from './helpers/cli.js';
import { REDIS, redisEnv, testRedis, SECRET, cleanup, newKey, quietLogger, testPrefix } from './fixtures/wallet-helpers.js';

const prefix = testPrefix('cli');
let redis: Redis;
let gw: Gateway;
let conn: WalletConnector;
const key = newKey();
const env = { HWAY_TOKEN_SECRET: SECRET, HWAY_PREFIX: prefix, ...redisEnv() };

async function run(cmd: typeof token, argv: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; out: Record<string, unknown> }> {
  let out: unknown;
  const code = await cmd.run(argv, { json: true, env: { ...env, ...extraEnv }, out: (o) => (out = o), err: () => undefined });
  return { code, out: out as Record<string, unknown> };
}

beforeAll(async () => {
  redis = testRedis();
  gw = await startGateway({ redis: REDIS, prefix, tokenSecret: SECRET, logger: quietLogger(), verifier: nobleVerifier });
});

afterAll(async () => {
  await conn?.close();
  await gw?.stop();
  await cleanup(redis, prefix);
  redis.disconnect();
});

describe('hway token / hway wallet', () => {
  test('issue, connect a wallet, has, sign, list, revoke', async () => {
    const w = await run(token, ['issue', '--account', 'acme', '--perm', 'sign', '--ttl', '1h']);
    expect(w.code).toBe(0);
    expect(w.out).toMatchObject({ account: 'acme', perm: 'sign' });
    conn = new WalletConnector({ redis: REDIS, prefix, token: w.out.token as string, logger: quietLogger(), ...localKeyWallet([key.sk]) });
    await conn.connect();

    const p = await run(token, ['issue', '--account', 'acme', '--perm', 'sign']);
    const T = { HWAY_TOKEN: p.out.token as string };
    // WAIT: the command's own wait for the gateway's answer (--timeout) made hang-only.
    expect((await run(wallet, ['has', key.addr.fil, ...WAIT], T)).out).toEqual({ has: true });
    const digest = randomBytes(32);
    const s = await run(wallet, ['sign', key.addr.eth, digest.toString('hex'), ...WAIT], T);
    expect(s.code).toBe(0);
    expect(secp256k1.verify(Buffer.from(s.out.signature as string, 'hex'), digest, key.pk, { prehash: false })).toBe(true);
    const l = await run(wallet, ['list', ...WAIT], T);
    expect((l.out.wallets as Array<{ addresses: string[] }>)[0]!.addresses).toEqual([key.addr.eth]);

    const listed = await run(token, ['list']);
    expect((listed.out.tokens as unknown[]).length).toBe(2);
    expect(JSON.stringify(listed.out)).not.toContain(p.out.token as string);
    expect((await run(token, ['revoke', p.out.jti as string])).out).toEqual({ jti: p.out.jti, revoked: true, known: true });
    await expect(run(wallet, ['has', key.addr.eth, ...WAIT], T)).rejects.toMatchObject({ code: 'E_UNAUTHORIZED' });
  });

  test('usage errors', async () => {
    await expect(run(token, ['issue', '--account', 'acme', '--perm', 'root'])).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    await expect(run(token, ['list'], { HWAY_TOKEN_SECRET: '' })).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    await expect(run(wallet, ['sign', key.addr.eth, 'xyz'])).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    await expect(run(wallet, ['fly'])).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
  });
});
