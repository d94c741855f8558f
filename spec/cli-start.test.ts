// `hway start`: serves (vault tasks, and the signer gateway for wallets and for its own vaults by
// address) until SIGTERM, then stops gracefully (exit 0, partition leases released and
// membership left at once); on first start it creates the master key file and the token secret
// file (mode 0600) in its data dir and says so: auth is on by default, and tokens are issued with
// `hway token issue --data-dir`. A second start on the same data dir reuses both, and what the
// first node sealed still opens with the tokens issued before.
import { afterAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { GatewayClient, WalletConnector, localKeyWallet } from '../actors/gateway/index.js';
import { hway, hwayLongRunning, stopLongRunning, WAIT, type LongRunning } from './helpers/cli.js';
import { HANG_MS } from './helpers/deadlines.js';
import { REDIS } from './helpers/node.js';

const prefix = `hwt-cli-start-${randomBytes(3).toString('hex')}`;
const P = 4;
const dir = mkdtempSync(join(tmpdir(), 'hway-cli-start-'));
const O = ['--prefix', prefix, '--partitions', String(P)];
let proc: LongRunning | undefined;
const redis = new Redis(REDIS);

afterAll(async () => {
  await stopLongRunning(proc, 'SIGKILL');
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const ready = (out: string): boolean => out.includes('"ready":true');

test('start → serve → SIGTERM: exit 0, leases released; master key created 0600 on first start only', async () => {
  const dataDir = join(dir, 'data');
  proc = await hwayLongRunning(['start', ...O, '--data-dir', dataDir, '--node-id', 'cli-start-1', '--concurrency', '4', '--json'], ready);
  const info = JSON.parse(proc.stdout().trim().split('\n')[0]!) as { nodeId: string; dataDir: string };
  expect(info).toMatchObject({ ready: true, nodeId: 'cli-start-1', prefix, partitions: P, dataDir });
  const keyFile = join(dataDir, 'master.key');
  expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  expect(readFileSync(keyFile, 'utf8')).toMatch(/^1:[0-9a-f]{64}\n$/);
  expect(proc.stderr()).toContain(`hway: created master key file ${keyFile} (mode 0600)`);
  expect(proc.stderr()).not.toContain(readFileSync(keyFile, 'utf8').trim().slice(2));

  // Auth is on: a token secret file was made, and a producer without a token is refused.
  const secretFile = join(dataDir, 'token.secret');
  expect(statSync(secretFile).mode & 0o777).toBe(0o600);
  const secret = readFileSync(secretFile, 'utf8').trim();
  expect(secret).toMatch(/^[0-9a-f]{64}$/);
  expect(proc.stderr()).toContain(`hway: created token secret file ${secretFile} (mode 0600)`);
  expect(proc.stderr()).not.toContain(secret);
  const anonymous = await hway(['vault', 'generate', 's0', ...O, ...WAIT, '--json']);
  expect([anonymous.code, anonymous.json.error.code]).toEqual([1, 'E_UNAUTHORIZED']);
  const issued = await hway<{ token: string }>(['token', 'issue', '--account', 'acme', '--perm', 'admin', '--data-dir', dataDir, ...O, '--json']);
  expect(issued.code).toBe(0);
  const token = issued.json.token;
  const asAcme = { env: { HWAY_TOKEN: token } };

  // It serves: a vault made through the CLI, and status sees the node with all partitions.
  const gen = await hway<{ publicKey: string }>(['vault', 'generate', 's1', ...O, ...WAIT, '--json'], asAcme);
  expect(gen.code).toBe(0);
  const st = await hway<{ nodes: Array<{ id: string; partitions: number }> }>(['status', ...O, '--json']);
  expect(st.json.nodes).toEqual([expect.objectContaining({ id: 'cli-start-1', partitions: P })]);

  // It runs the signer gateway: a wallet connects and signs by address, and the node's own vault
  // signs by its address too.
  const sk = secp256k1.utils.randomSecretKey();
  const local = localKeyWallet([sk]);
  const wallet = new WalletConnector({ redis: REDIS, prefix, token, ...local });
  const producer = new GatewayClient({ redis: REDIS, prefix, token, timeoutMs: HANG_MS }); // ordinary requests: hang-only deadline
  try {
    expect((await wallet.connect()).accepted).toEqual(local.addresses);
    const digest = new Uint8Array(32).fill(7);
    const viaWallet = await producer.walletSign(local.addresses[0]!, digest);
    expect(secp256k1.verify(Buffer.from(viaWallet.signature, 'hex'), digest, secp256k1.getPublicKey(sk), { prehash: false })).toBe(true);
    const vaultEth = (await hway<{ addresses: { eth: string } }>(['vault', 'info', 's1', ...O, ...WAIT, '--json'], asAcme)).json.addresses.eth;
    const viaVault = await producer.walletSign(vaultEth, digest);
    expect(viaVault.via).toBe('vault:s1');
    expect(secp256k1.verify(Buffer.from(viaVault.signature, 'hex'), digest, Buffer.from(gen.json.publicKey, 'hex'), { prehash: false })).toBe(true);
    const st2 = await hway<{ wallets: { live: number } }>(['status', ...O, '--json']);
    expect(st2.json.wallets.live).toBe(1);
  } finally {
    await producer.close();
    await wallet.close();
  }

  expect(await stopLongRunning(proc, 'SIGTERM')).toBe(0);
  expect(proc.stderr()).toContain('SIGTERM: stopping node cli-start-1');
  expect(await redis.zrange(`${prefix}:nodes`, 0, -1)).toEqual([]);
  for (let p = 0; p < P; p++) expect(await redis.exists(`${prefix}:{${p}}:lease`)).toBe(0);

  // Second start on the same data dir: the key file is reused (no notice), and the vault opens.
  proc = await hwayLongRunning(['start', ...O, '--data-dir', dataDir, '--node-id', 'cli-start-2', '--json'], ready);
  expect(proc.stderr()).not.toContain('created master key file');
  expect(proc.stderr()).not.toContain('created token secret file');
  const info2 = await hway<{ publicKey: string; epoch: number }>(['vault', 'refresh', 's1', ...O, ...WAIT, '--json'], asAcme);
  expect(info2.json).toMatchObject({ publicKey: gen.json.publicKey, epoch: 1 });
  expect(await stopLongRunning(proc, 'SIGINT')).toBe(0);
});
