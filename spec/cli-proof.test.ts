// `hway proof list|connection|compute`: the proof API from the command line, against a gateway and a
// connected proof worker (ProofWorkerConnector): the miners of the token's account, a miner's
// connections, a proof computed by the worker from the sectors file and randomness the CLI sent; and
// refusals with their codes (no worker for the miner, another account, bad arguments).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { startGateway, nobleVerifier, type Gateway } from '../actors/gateway/gateway.js';
import { ProofWorkerConnector } from '../actors/gateway/proof-connector.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { command as proof } from '../bin/commands/proof.js';
import { hway, WAIT } from './helpers/cli.js';
import { REDIS, redisEnv, testRedis, SECRET, cleanup, quietLogger, testPrefix } from './fixtures/wallet-helpers.js';

const prefix = testPrefix('cli-proof');
const dir = mkdtempSync(join(tmpdir(), 'hway-cli-proof-'));
let redis: Redis;
let gw: Gateway;
let tokens: TokenService;
let worker: ProofWorkerConnector;
let env: Record<string, string>;
let connId: string;

beforeAll(async () => {
  redis = testRedis();
  tokens = new TokenService({ redis: REDIS, secret: SECRET, prefix, subscribe: false, logger: quietLogger() });
  gw = await startGateway({ redis: REDIS, prefix, tokenSecret: SECRET, logger: quietLogger(), verifier: nobleVerifier });
  worker = new ProofWorkerConnector({
    redis: REDIS,
    prefix,
    token: (await tokens.issue({ account: 'storage', perm: 'sign', ttlSec: 600 })).token,
    logger: quietLogger(),
    miners: ['f01000', 'f01001'],
    // An answer that depends on everything the CLI sent: miner, sectors and randomness.
    onProof: (req) => ({ miner: req.miner, sectors: req.sectorInfos, proof: createHash('sha256').update(req.randomness).update(req.miner).digest('hex') }),
  });
  connId = (await worker.connect()).connId;
  env = { ...redisEnv(), HWAY_PREFIX: prefix, HWAY_TOKEN: (await tokens.issue({ account: 'storage', perm: 'sign', ttlSec: 600 })).token };
});

afterAll(async () => {
  await worker?.close();
  await gw?.stop();
  await tokens?.close();
  await cleanup(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

test('list, connection and compute reach the connected worker of the account', async () => {
  const sectors = [{ SealProof: 8, SectorNumber: 7, SealedCID: { '/': 'bagboea4b5abcbxyz' } }];
  const file = join(dir, 'sectors.json');
  writeFileSync(file, JSON.stringify(sectors));
  const rand = randomBytes(32);
  const other = (await tokens.issue({ account: 'elsewhere', perm: 'sign', ttlSec: 600 })).token;
  const [list, conn, human, elsewhere] = await Promise.all([
    hway(['proof', 'list', ...WAIT, '--json'], { env }),
    hway(['proof', 'connection', 'f01001', ...WAIT, '--json'], { env }),
    hway(['proof', 'list', ...WAIT], { env }),
    hway(['proof', 'list', ...WAIT, '--json'], { env: { ...env, HWAY_TOKEN: other } }),
  ]);
  // After the connection query, not beside it: one worker serves both miners, and a compute in
  // flight while `connection` reads the worker's count would make it 1 (seen in CI, under load).
  const compute = await hway(['proof', 'compute', 'f01000', '--sectors', file, '--rand', `0x${rand.toString('hex')}`, ...WAIT, '--json'], { env });
  expect([list.code, list.json]).toEqual([0, { miners: ['f01000', 'f01001'] }]);
  expect([conn.code, conn.json]).toEqual([0, { miner: 'f01001', connections: [{ id: connId, inFlight: 0 }] }]);
  expect(compute.code).toBe(0);
  expect(compute.json).toEqual({ miner: 'f01000', proof: { miner: 'f01000', sectors, proof: createHash('sha256').update(rand).update('f01000').digest('hex') } });
  expect([human.code, human.stdout]).toEqual([0, 'f01000\nf01001\n']);
  // Another account sees none of this account's workers.
  expect([elsewhere.code, elsewhere.json]).toEqual([0, { miners: [] }]);
});

test('refusals: no worker for the miner (exit 1), and bad arguments (usage errors, before anything is sent)', async () => {
  const file = join(dir, 'empty.json');
  writeFileSync(file, '[]');
  const notJson = join(dir, 'not.json');
  writeFileSync(notJson, '{ sectors');
  const missing = await hway(['proof', 'compute', 'f09999', '--sectors', file, '--rand', '00', ...WAIT, '--json'], { env });
  expect([missing.code, missing.json.error.code]).toEqual([1, 'E_NO_WALLET']);
  // The command module in process: each of these is refused before it connects anywhere.
  const io = { json: true, env, out: () => undefined, err: () => undefined };
  for (const [argv, text] of [
    [['connection', 'f1abc'], 'miner id'],
    [['compute', 'f01000', '--sectors', file], '--rand'],
    [['compute', 'f01000', '--sectors', file, '--rand', 'xyz'], '--rand'],
    [['compute', 'f01000', '--rand', '00'], '--sectors'],
    [['compute', 'f01000', '--sectors', notJson, '--rand', '00'], 'not JSON'],
    [['fly'], 'unknown operation'],
  ] as const) {
    await expect(proof.run([...argv], io)).rejects.toMatchObject({ code: 'E_BAD_INPUT', message: expect.stringContaining(text) });
  }
});
