// Auth is on by default: a node without a token secret refuses to start (E_AUTH_REQUIRED) before it
// touches Redis, unless it is told to run without auth; a secret file must be private (0600) and
// long enough; `createTokenSecret` makes one (0600) on first start.
import { afterAll, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode } from '../actors/node.js';
import { HwayError } from '../errors.js';
import { HANG_MS } from './helpers/deadlines.js';
import { countKeys } from './helpers/redis.js';
import { REDIS, testRedis } from './helpers/node.js';
import { cleanup, testPrefix } from './fixtures/ingress-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'hway-auth-default-'));
const prefix = testPrefix('auth-default');
const redis = testRedis();
const masterKeys = `1:${'ab'.repeat(32)}`;
const base = { redis: REDIS, prefix, partitions: 4, masterKeys, enclaveTimeoutMs: HANG_MS, env: {} };

afterAll(async () => {
  await cleanup(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

async function startError(opts: Parameters<typeof createNode>[0]): Promise<HwayError> {
  const node = createNode(opts);
  const e = await node.start().then(
    () => undefined,
    (x: unknown) => x,
  );
  await node.stop().catch(() => undefined);
  expect(e).toBeInstanceOf(HwayError);
  return e as HwayError;
}

test('no token secret and not told to run without auth: start() refuses with E_AUTH_REQUIRED, Redis untouched', async () => {
  const e = await startError({ ...base, dataDir: join(dir, 'none') });
  expect(e.code).toBe('E_AUTH_REQUIRED');
  expect(e.message).toMatch(/insecure/);
  expect(await countKeys(redis, prefix)).toBe(0);
});

test('a secret file readable by others, or too short, is refused (E_BAD_INPUT, the secret not in the message)', async () => {
  const open = join(dir, 'open.secret');
  const secret = 'c'.repeat(64);
  writeFileSync(open, secret, { mode: 0o644 });
  const e1 = await startError({ ...base, dataDir: join(dir, 'open'), tokenSecretFile: open });
  expect([e1.code, /readable by others/.test(e1.message), e1.message.includes(secret)]).toEqual(['E_BAD_INPUT', true, false]);
  const short = join(dir, 'short.secret');
  writeFileSync(short, 'short', { mode: 0o600 });
  const e2 = await startError({ ...base, dataDir: join(dir, 'short'), tokenSecretFile: short });
  expect([e2.code, /fewer than 32 bytes/.test(e2.message)]).toEqual(['E_BAD_INPUT', true]);
});

test('insecure together with a token secret is a contradiction (E_BAD_INPUT at once)', () => {
  expect(() => createNode({ ...base, insecure: true, tokenSecret: 'd'.repeat(64) })).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
});

test('createTokenSecret makes a 0600 secret file on first start and auth is on; insecure runs without', async () => {
  const dataDir = join(dir, 'created');
  const node = createNode({ ...base, dataDir, createTokenSecret: true, gateway: false });
  await node.start();
  try {
    const file = join(dataDir, 'token.secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    expect((await node.stats()).auth).toBe(true);
  } finally {
    await node.stop();
  }
  const open = createNode({ ...base, dataDir: join(dir, 'insecure'), insecure: true, gateway: false });
  await open.start();
  try {
    expect((await open.stats()).auth).toBe(false);
  } finally {
    await open.stop();
  }
});
