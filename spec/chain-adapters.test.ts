// The chain adapters (hway/viem, hway/ethers) driven by their libraries' own clients: a viem
// WalletClient and an ethers Signer sign messages, typed data and transactions with a vault, and
// send transfers that an in-process Ethereum node (ganache) mines; a vault's address served by the
// signer gateway works the same way. hway/client loads neither viem nor ethers.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { BrowserProvider, NonceManager, Transaction, verifyMessage as ethersVerifyMessage, verifyTypedData as ethersVerifyTypedData } from 'ethers';
import ganache from 'ganache';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPublicClient, createWalletClient, custom, defineChain, recoverAddress, recoverTransactionAddress, verifyMessage, verifyTypedData, type Hex } from 'viem';
import { HwayEthersSigner } from '../actors/adapters/ethers.js';
import { toViemAccount } from '../actors/adapters/viem.js';
import type { HwayClient } from '../actors/client.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { quietLogger } from './helpers/cli.js';
import { REDIS, testCluster } from './helpers/node.js';
import { mail } from './fixtures/eip712-mail.js';

const cluster = testCluster('chain-adapt');
const secret = randomBytes(32).toString('hex');
const VAULT = 'adapt-1';
let client: HwayClient;
let address: Hex;
// Made before the node starts: building ganache's provider keeps the event loop busy for a while.
const provider = ganache.provider({ logging: { quiet: true }, chain: { chainId: 1337 }, wallet: { totalAccounts: 1, defaultBalance: 100 } });
const rpc = <T>(method: string, params: unknown[] = []): Promise<T> => provider.request({ method, params } as never) as Promise<T>;
const chain = defineChain({ id: 1337, name: 'ganache', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: ['http://127.0.0.1:8545'] } } });

beforeAll(async () => {
  const [funder] = await rpc<string[]>('eth_accounts');
  await cluster.node({ tokenSecret: secret, logger: quietLogger() }).start();
  const tokens = new TokenService({ redis: REDIS, secret, prefix: cluster.prefix, subscribe: false });
  const { token } = await tokens.issue({ account: 'chains', perm: 'sign', ttlSec: 3600 });
  await tokens.close();
  client = cluster.client({ token });
  address = (await client.vault.generate(VAULT)).addresses.eth as Hex;
  await rpc('eth_sendTransaction', [{ from: funder, to: address, value: '0x8ac7230489e80000' }]); // 10 ETH
});
afterAll(async () => {
  await provider.disconnect();
  await cluster.cleanup();
});

test('toViemAccount: a viem WalletClient signs with the vault and ganache mines its transfer', async () => {
  const account = await toViemAccount(client, VAULT);
  expect(account.address).toBe(address);
  expect(account.type).toBe('local');
  const wallet = createWalletClient({ account, chain, transport: custom(provider) });
  const pub = createPublicClient({ chain, transport: custom(provider) });

  const signature = await wallet.signMessage({ message: 'signed through viem' });
  expect(await verifyMessage({ address, message: 'signed through viem', signature })).toBe(true);
  const typed = await wallet.signTypedData(mail);
  expect(await verifyTypedData({ address, ...mail, signature: typed })).toBe(true);
  const hash = `0x${randomBytes(32).toString('hex')}` as Hex;
  expect(await recoverAddress({ hash, signature: await account.sign!({ hash }) })).toBe(address);

  // viem fills in nonce, gas and fees from the node, the vault signs, viem sends the raw transaction.
  const to = '0x000000000000000000000000000000000000bEEF';
  const txHash = await wallet.sendTransaction({ to, value: 777n });
  const receipt = await pub.getTransactionReceipt({ hash: txHash });
  expect(receipt).toMatchObject({ status: 'success', from: address.toLowerCase(), type: 'eip1559' });
  expect(await pub.getBalance({ address: to })).toBe(777n);
  const legacy = await wallet.sendTransaction({ to, value: 1n, type: 'legacy', gasPrice: 10n ** 10n });
  expect((await pub.getTransactionReceipt({ hash: legacy })).status).toBe('success');
});

test('HwayEthersSigner: ethers signs with the vault and ganache mines its transfers', async () => {
  const ethersProvider = new BrowserProvider(provider as never, 1337, { polling: false, staticNetwork: true } as never);
  try {
    const signer = await HwayEthersSigner.create(client, VAULT, ethersProvider);
    expect(await signer.getAddress()).toBe(address);

    const sig = await signer.signMessage('signed through ethers');
    expect(ethersVerifyMessage('signed through ethers', sig)).toBe(address);
    const bytes = randomBytes(20);
    expect(ethersVerifyMessage(bytes, await signer.signMessage(bytes))).toBe(address);
    const typed = await signer.signTypedData(mail.domain, mail.types, mail.message);
    expect(ethersVerifyTypedData(mail.domain, mail.types, mail.message, typed)).toBe(address);

    const to = '0x000000000000000000000000000000000000cafE';
    // ethers caches provider answers briefly: its NonceManager keeps back-to-back nonces apart.
    const sender = new NonceManager(signer);
    for (const type of [2, 1, 0]) {
      const resp = await sender.sendTransaction({ to, value: 1000n, type });
      const receipt = await ethersProvider.getTransactionReceipt(resp.hash);
      expect({ type, status: receipt?.status, from: receipt?.from }).toEqual({ type, status: 1, from: address });
    }
    expect(await ethersProvider.getBalance(to)).toBe(3000n);

    // A signed transaction on its own, parsed back by ethers.
    const raw = await signer.signTransaction({ to, value: 5n, nonce: 99, chainId: 1337n, gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n });
    expect(Transaction.from(raw).from).toBe(address);
  } finally {
    ethersProvider.destroy();
  }
});

test("a vault's address through the signer gateway: the same adapters sign by address", async () => {
  const account = await toViemAccount(client, address.toLowerCase());
  expect(account.address).toBe(address);
  const signature = await account.signMessage({ message: 'by address' });
  expect(await verifyMessage({ address, message: 'by address', signature })).toBe(true);
  expect(await verifyTypedData({ address, ...mail, signature: await account.signTypedData(mail) })).toBe(true);
  const raw = await account.signTransaction({ chainId: 1337, nonce: 5, to: address, value: 1n, gas: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, type: 'eip1559' });
  expect(await recoverTransactionAddress({ serializedTransaction: raw as never })).toBe(address);

  const signer = await HwayEthersSigner.create(client, address);
  expect(ethersVerifyMessage('ethers by address', await signer.signMessage('ethers by address'))).toBe(address);
});

test('hway/client reaches neither viem nor ethers (they load only through hway/viem and hway/ethers)', () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const seen = new Set<string>();
  const bare = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    // Type-only imports and re-exports are erased when compiled: only the rest loads anything.
    const src = readFileSync(file, 'utf8').replace(/^\s*(import|export)\s+type\b[^;]*;/gm, '');
    for (const m of src.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else bare.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  visit(join(root, 'client.ts'));
  expect(bare.has('ioredis')).toBe(true); // the walk reached the modules that talk to Redis
  expect([...bare].filter((s) => s === 'viem' || s === 'ethers' || s === 'ox')).toEqual([]);
});
