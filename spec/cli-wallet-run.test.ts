// `hway wallet run --key-file F`: the CLI as a wallet process. Spawned as a user runs it, it connects
// to a gateway with its token, announces the addresses of the keys in F (and prints them, never a
// key), and producers sign through the gateway with those keys: the signatures recover to the keys'
// addresses. SIGTERM ends it with exit 0 and its routes go away. A key file that others may read, one
// that holds something else, and a token without the "sign" permission are refused with their codes.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { addressesOf } from '../enclaves/addresses.js';
import { startGateway, nobleVerifier, type Gateway } from '../actors/gateway/gateway.js';
import { GatewayClient } from '../actors/gateway/producer.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { command as walletCmd } from '../bin/commands/wallet.js';
import { hway, hwayLongRunning, stopLongRunning, type LongRunning } from './helpers/cli.js';
import { HANG_MS } from './helpers/deadlines.js';
import { REDIS, redisEnv, testRedis, SECRET, cleanup, newKey, quietLogger, testPrefix, waitFor } from './fixtures/wallet-helpers.js';

const prefix = testPrefix('cli-wallet-run');
const dir = mkdtempSync(join(tmpdir(), 'hway-wallet-run-'));
const keys = [newKey(), newKey()];
let redis: Redis;
let gw: Gateway;
let tokens: TokenService;
let producer: GatewayClient;
let wallet: LongRunning | undefined;
let env: Record<string, string>;

function keyFile(name: string, text: string, mode: number): string {
  const f = join(dir, name);
  writeFileSync(f, text, { mode });
  chmodSync(f, mode);
  return f;
}

beforeAll(async () => {
  redis = testRedis();
  tokens = new TokenService({ redis: REDIS, secret: SECRET, prefix, subscribe: false, logger: quietLogger() });
  gw = await startGateway({ redis: REDIS, prefix, tokenSecret: SECRET, logger: quietLogger(), verifier: nobleVerifier });
  env = { ...redisEnv(), HWAY_PREFIX: prefix, HWAY_TOKEN: (await tokens.issue({ account: 'acme', perm: 'sign', ttlSec: 600 })).token };
  // Requests are ordinary work: the producer's deadline is hang-only.
  producer = new GatewayClient({ redis: REDIS, prefix, timeoutMs: HANG_MS, token: (await tokens.issue({ account: 'acme', perm: 'sign', ttlSec: 600 })).token });
});

afterAll(async () => {
  await stopLongRunning(wallet, 'SIGKILL');
  await producer?.close();
  await gw?.stop();
  await tokens?.close();
  await cleanup(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

/** The JSON event lines the wallet printed so far. */
const events = (p: LongRunning): Array<Record<string, unknown>> =>
  p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('serves the keys of the file through the gateway; SIGTERM ends it with exit 0 and drops its routes', async () => {
  const file = keyFile('keys', `# two keys\n${keys[0]!.skHex}\n\n  0x${keys[1]!.skHex.toUpperCase()}  \n`, 0o600);
  wallet = await hwayLongRunning(['wallet', 'run', '--key-file', file, '--json'], (out) => out.includes('"ev":"connected"'), { env });
  const connected = events(wallet).find((e) => e.ev === 'connected')!;
  expect(connected).toMatchObject({ account: 'acme', addresses: keys.map((k) => ({ eth: k.addr.eth, fil: k.addr.fil })), accepted: keys.map((k) => k.addr.eth), refused: [] });

  // Through the gateway by either spelling; each signature recovers to its key's address.
  const digest = randomBytes(32);
  const a = await producer.walletSign(keys[0]!.addr.fil, digest);
  const recovered = secp256k1.Signature.fromBytes(Buffer.from(a.signature, 'hex'), 'compact').addRecoveryBit(a.recovery).recoverPublicKey(digest);
  expect(addressesOf(recovered.toBytes(false)).eth).toBe(keys[0]!.addr.eth);
  const message = Buffer.from('signed by hway wallet run');
  const b = await producer.walletSign(keys[1]!.addr.eth, message, { type: 'keccak256' });
  const rb = secp256k1.Signature.fromBytes(Buffer.from(b.signature, 'hex'), 'compact').addRecoveryBit(b.recovery).recoverPublicKey(keccak_256(message));
  expect(addressesOf(rb.toBytes(false)).eth).toBe(keys[1]!.addr.eth);
  await waitFor(() => events(wallet!).filter((e) => e.ev === 'request').length === 2, 'two request events');
  expect(events(wallet).filter((e) => e.ev === 'request')).toEqual([
    { ev: 'request', address: keys[0]!.addr.eth, type: 'raw' },
    { ev: 'request', address: keys[1]!.addr.eth, type: 'keccak256' },
  ]);

  expect(await stopLongRunning(wallet, 'SIGTERM')).toBe(0);
  expect(events(wallet).at(-1)).toEqual({ ev: 'stopped', signal: 'SIGTERM' });
  await waitFor(async () => !(await producer.walletHas(keys[0]!.addr.eth)) && !(await producer.walletHas(keys[1]!.addr.eth)), 'the routes to go');
  await expect(producer.walletSign(keys[0]!.addr.eth, randomBytes(32))).rejects.toMatchObject({ code: 'E_NO_WALLET' });
  // Addresses, never keys: not in what it printed, nor in its log.
  for (const k of keys) {
    expect(wallet.stdout().toLowerCase()).not.toContain(k.skHex);
    expect(wallet.stderr().toLowerCase()).not.toContain(k.skHex);
  }
});

test('refused: a token without "sign" (exit 1), a key file others may read, a malformed one, no --key-file', async () => {
  const good = `${keys[0]!.skHex}\n`;
  const reader = (await tokens.issue({ account: 'acme', perm: 'read', ttlSec: 600 })).token;
  const weak = await hway(['wallet', 'run', '--key-file', keyFile('fine', good, 0o600), '--json'], { env: { ...env, HWAY_TOKEN: reader } });
  expect([weak.code, weak.json.error.code]).toEqual([1, 'E_FORBIDDEN']);
  expect(`${weak.stdout}${weak.stderr}`.toLowerCase()).not.toContain(keys[0]!.skHex);
  // The command module in process: each of these is refused before it connects anywhere, and no
  // message shows a key, not even the malformed line.
  const io = { json: true, env, out: () => undefined, err: () => undefined };
  const junk = `zz${keys[1]!.skHex.slice(2)}`;
  for (const [file, code, text] of [
    [keyFile('open', good, 0o644), 'E_BAD_INPUT', 'readable by others'],
    [keyFile('bad', `${keys[0]!.skHex}\n${junk}\n`, 0o600), 'E_BAD_INPUT', 'line 2'],
    [keyFile('twice', `${good}${good}`, 0o600), 'E_BAD_INPUT', 'twice'],
    [keyFile('empty', '# nothing\n', 0o600), 'E_BAD_INPUT', 'no key'],
    [join(dir, 'absent'), 'E_BAD_INPUT', 'ENOENT'],
  ] as const) {
    const e = await walletCmd.run(['run', '--key-file', file], io).then(
      () => undefined,
      (x: Error & { code: string }) => x,
    );
    expect({ file, code: e?.code, has: e?.message.includes(text) }).toEqual({ file, code, has: true });
    expect(e!.message).not.toContain(keys[0]!.skHex);
    expect(e!.message).not.toContain(junk);
  }
  await expect(walletCmd.run(['run'], io)).rejects.toMatchObject({ code: 'E_BAD_INPUT', message: expect.stringContaining('--key-file') });
  await expect(walletCmd.run(['run', '--key-file', join(dir, 'fine'), '--filnet', 'x'], io)).rejects.toMatchObject({ code: 'E_BAD_INPUT', message: expect.stringContaining('--filnet') });
});
