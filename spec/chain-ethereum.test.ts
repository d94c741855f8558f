// Ethereum signing by a vault (vault:sign-as), checked by real clients: viem and ethers recover the
// vault's address from personal_sign messages, EIP-712 typed data and transactions of all three
// types, and an in-process Ethereum node (ganache) accepts and mines a signed EIP-1559 transfer from
// a funded vault address. Auth is on: the producer holds a "sign" credential.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Transaction, verifyMessage as ethersVerifyMessage, verifyTypedData as ethersVerifyTypedData } from 'ethers';
import ganache from 'ganache';
import { keccak256, recoverTransactionAddress, verifyMessage, verifyTypedData, type Hex } from 'viem';
import type { HwayClient } from '../actors/client.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { hway, quietLogger, WAIT } from './helpers/cli.js';
import { refusal } from './helpers/errors.js';
import { REDIS, redisEnv, testCluster } from './helpers/node.js';
import { mail } from './fixtures/eip712-mail.js';

const cluster = testCluster('chain-eth');
const secret = randomBytes(32).toString('hex');
let client: HwayClient;
let token: string;
let address: Hex;
const VAULT = 'eth-1';
// Made before the node starts: building ganache's provider keeps the event loop busy for a while.
const provider = ganache.provider({ logging: { quiet: true }, chain: { chainId: 1337 }, wallet: { totalAccounts: 1, defaultBalance: 100 } });
const rpc = <T>(method: string, params: unknown[] = []): Promise<T> => provider.request({ method, params } as never) as Promise<T>;

beforeAll(async () => {
  await rpc('eth_chainId');
  await cluster.node({ tokenSecret: secret, logger: quietLogger() }).start();
  const tokens = new TokenService({ redis: REDIS, secret, prefix: cluster.prefix, subscribe: false });
  ({ token } = await tokens.issue({ account: 'chains', perm: 'sign', ttlSec: 3600 }));
  await tokens.close();
  client = cluster.client({ token });
  address = (await client.vault.generate(VAULT)).addresses.eth as Hex;
});
afterAll(async () => {
  await provider.disconnect();
  await cluster.cleanup();
});


describe('EIP-191 personal_sign', () => {
  test('viem and ethers recover the vault address from a text message and from raw bytes', async () => {
    const { signature } = await client.vault.signMessage(VAULT, 'hello from a vault');
    expect(signature).toMatch(/^0x[0-9a-f]{128}(1b|1c)$/);
    expect(await verifyMessage({ address, message: 'hello from a vault', signature })).toBe(true);
    expect(ethersVerifyMessage('hello from a vault', signature)).toBe(address);

    const raw = new Uint8Array(randomBytes(40));
    const r = await client.vault.signMessage(VAULT, raw);
    expect(await verifyMessage({ address, message: { raw }, signature: r.signature })).toBe(true);
    expect(ethersVerifyMessage(raw, r.signature)).toBe(address);
  });
});

describe('EIP-712 typed data', () => {
  test('viem verifyTypedData and ethers verifyTypedData give the vault address', async () => {
    const { signature } = await client.vault.signTypedData(VAULT, mail);
    expect(await verifyTypedData({ address, ...mail, signature })).toBe(true);
    expect(ethersVerifyTypedData(mail.domain, mail.types as never, mail.message, signature)).toBe(address);
  });

  test('an eth_signTypedData_v4 document (EIP712Domain listed, integers as strings) signs the same digest', async () => {
    const doc = {
      domain: { name: 'Permit', version: '2', chainId: '0x89', verifyingContract: '0x000000000022d473030f116ddee9f6b43ac78ba3' },
      types: {
        EIP712Domain: [
          { name: 'name', type: 'string' },
          { name: 'version', type: 'string' },
          { name: 'chainId', type: 'uint256' },
          { name: 'verifyingContract', type: 'address' },
        ],
        Permit: [
          { name: 'owner', type: 'address' },
          { name: 'spender', type: 'address' },
          { name: 'value', type: 'uint256' },
          { name: 'nonce', type: 'uint256' },
          { name: 'deadline', type: 'uint256' },
          { name: 'tags', type: 'bytes32[]' },
          { name: 'delta', type: 'int64' },
        ],
      },
      primaryType: 'Permit',
      message: {
        owner: address,
        spender: '0x1111111254EEB25477B68fb85Ed929f73A960582',
        value: '115792089237316195423570985008687907853269984665640564039457584007913129639935',
        nonce: 7,
        deadline: '0x6553f100',
        tags: [`0x${'ab'.repeat(32)}`],
        delta: '-42',
      },
    };
    const { signature } = await client.vault.signTypedData(VAULT, doc);
    const { EIP712Domain: _ignored, ...types } = doc.types;
    const domain = { ...doc.domain, chainId: 137, verifyingContract: doc.domain.verifyingContract as Hex };
    const message = { ...doc.message, value: BigInt(doc.message.value), deadline: BigInt(doc.message.deadline), nonce: 7n, delta: -42n };
    expect(await verifyTypedData({ address, domain, types, primaryType: 'Permit', message: message as never, signature })).toBe(true);
    expect(ethersVerifyTypedData(domain, types, message, signature)).toBe(address);
  });

  test('a malformed document is E_BAD_PAYLOAD naming the field', async () => {
    const missing = { ...mail, message: { from: mail.message.from, to: mail.message.to } };
    const r1 = await refusal(client.vault.signTypedData(VAULT, missing));
    expect(r1.code).toBe('E_BAD_PAYLOAD');
    expect(r1.message).toContain('input.message.contents');

    const badWallet = { ...mail, message: { ...mail.message, to: { name: 'Bob', wallet: '0x1234' } } };
    const r2 = await refusal(client.vault.signTypedData(VAULT, badWallet));
    expect(r2).toMatchObject({ code: 'E_BAD_PAYLOAD' });
    expect(r2.message).toContain('input.message.to.wallet');

    const r3 = await refusal(client.vault.signTypedData(VAULT, { ...mail, primaryType: 'Letter' }));
    expect(r3.code).toBe('E_BAD_PAYLOAD');
    expect(r3.message).toContain('input.primaryType');

    const r4 = await refusal(client.vault.signTypedData(VAULT, { ...mail, types: { ...mail.types, Person: [{ name: 'name', type: 'strin' }] } }));
    expect(r4.code).toBe('E_BAD_PAYLOAD');
    expect(r4.message).toContain('input.message.from.name');
  });
});

describe('transactions', () => {
  const to = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
  const txs = {
    legacy: { type: 'legacy', chainId: 1, nonce: 0, to, value: '1000000000000000000', gas: 21000, gasPrice: '20000000000' },
    eip2930: {
      type: 'eip2930',
      chainId: 10,
      nonce: '0x5',
      to,
      value: 1,
      gas: '0x5208',
      gasPrice: '1000000000',
      data: '0xdeadbeef',
      accessList: [{ address: to, storageKeys: [`0x${'00'.repeat(31)}01`] }],
    },
    eip1559: { chainId: 8453, nonce: 3, to, value: '0x2386f26fc10000', gasLimit: 30000, maxFeePerGas: '3000000000', maxPriorityFeePerGas: '1000000000', from: 'REPLACED' },
  } as const;

  test.each(Object.keys(txs) as Array<keyof typeof txs>)('%s: viem recoverTransactionAddress and ethers Transaction.from(raw).from give the vault address', async (kind) => {
    const tx = { ...txs[kind], ...('from' in txs[kind] ? { from: address.toLowerCase() } : {}) };
    const r = await client.vault.signTransaction(VAULT, tx);
    expect(r.hash).toBe(keccak256(r.serialized));
    expect(await recoverTransactionAddress({ serializedTransaction: r.serialized as never })).toBe(address);
    const parsed = Transaction.from(r.serialized);
    expect(parsed.from).toBe(address);
    expect(parsed.hash).toBe(r.hash);
    expect(parsed.type).toBe({ legacy: 0, eip2930: 1, eip1559: 2 }[kind]);
    expect(parsed.chainId).toBe(BigInt(tx.chainId));
    expect(parsed.to).toBe(to);
  });

  test('a malformed transaction is E_BAD_PAYLOAD naming the field; a foreign `from` is E_FORBIDDEN', async () => {
    const base = txs.eip1559;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...base, from: undefined, maxFeePerGas: 'lots' }, 'input.maxFeePerGas'],
      [{ ...base, from: undefined, to: '0x1234' }, 'input.to'],
      [{ ...base, from: undefined, chainId: undefined }, 'input.chainId'],
      [{ ...base, from: undefined, nonce: -1 }, 'input.nonce'],
      [{ ...base, from: undefined, gasPrice: 1 }, 'input.gasPrice'],
      [{ ...base, from: undefined, maxFeePerGass: 1 }, 'input.maxFeePerGass'],
      [{ ...base, from: undefined, type: 'eip4844' }, 'input.type'],
      [{ ...base, from: undefined, data: '0x123' }, 'input.data'],
    ];
    for (const [tx, field] of cases) {
      const r = await refusal(client.vault.signTransaction(VAULT, JSON.parse(JSON.stringify(tx))));
      expect({ field, code: r.code }).toEqual({ field, code: 'E_BAD_PAYLOAD' });
      expect(r.message).toContain(field);
    }
    const other = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
    const r = await refusal(client.vault.signTransaction(VAULT, { ...base, from: other }));
    expect(r.code).toBe('E_FORBIDDEN');
    expect(r.message).toContain('input.from');
  });

  test('a signed EIP-1559 transfer from a funded vault address is mined by ganache', async () => {
    {
      const [funder] = await rpc<string[]>('eth_accounts');
      await rpc('eth_sendTransaction', [{ from: funder, to: address, value: '0xde0b6b3a7640000' }]); // 1 ETH
      expect(BigInt(await rpc<string>('eth_getBalance', [address, 'latest']))).toBe(10n ** 18n);

      const block = await rpc<{ baseFeePerGas: string }>('eth_getBlockByNumber', ['latest', false]);
      const recipient = '0x000000000000000000000000000000000000dEaD';
      const nonce = await rpc<string>('eth_getTransactionCount', [address, 'latest']);
      const signed = await client.vault.signTransaction(VAULT, {
        type: 'eip1559',
        chainId: Number(await rpc<string>('eth_chainId')),
        nonce,
        from: address,
        to: recipient,
        value: '123456789',
        gas: 21000,
        maxPriorityFeePerGas: '1000000000',
        maxFeePerGas: (BigInt(block.baseFeePerGas) * 2n + 10n ** 9n).toString(),
      });
      const hash = await rpc<string>('eth_sendRawTransaction', [signed.serialized]);
      expect(hash).toBe(signed.hash);
      const receipt = await rpc<{ status: string; from: string; to: string; type: string }>('eth_getTransactionReceipt', [hash]);
      expect(receipt).toMatchObject({ status: '0x1', from: address.toLowerCase(), to: recipient.toLowerCase(), type: '0x2' });
      expect(BigInt(await rpc<string>('eth_getBalance', [recipient, 'latest']))).toBe(123456789n);
    }
  });
});

test('hway vault sign-as: the CLI signs the JSON document of --input-file', async () => {
  const O = ['--prefix', cluster.prefix, '--partitions', String(cluster.partitions), '--json', ...WAIT];
  const env = { ...redisEnv(), HWAY_TOKEN: token };
  const file = join(mkdtempSync(join(tmpdir(), 'hway-chain-')), 'tx.json');
  writeFileSync(file, JSON.stringify({ chainId: 1, nonce: 1, to: address, value: '1', gas: 21000, maxFeePerGas: '2000000000', maxPriorityFeePerGas: '1' }));
  try {
    const [tx, usage, help] = await Promise.all([
      hway<{ serialized: Hex; hash: Hex }>(['vault', 'sign-as', VAULT, '--scheme', 'eth-tx', '--input-file', file, ...O], { env }),
      hway(['vault', 'sign-as', VAULT, '--scheme', 'btc-psbt', '--input-file', '-', ...O], { env, input: '{}' }),
      hway(['vault', '--help']),
    ]);
    expect({ code: tx.code, stderr: tx.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await recoverTransactionAddress({ serializedTransaction: tx.json.serialized as never })).toBe(address);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--scheme');
    expect(help.stdout).toContain('sign-as <vaultId> --scheme S --input-file F');
  } finally {
    rmSync(dirname(file), { recursive: true, force: true });
  }
});
