// Filecoin message signing by a vault (vault:sign-as, scheme fil-message), checked by real clients:
// the message is built with @glif/filecoin-message, the signature verifies with
// @zondax/filecoin-signing-tools (its Rust/WASM verifier), whose CIDs of the unsigned and the signed
// message match ours; and, independently, @noble/curves recovers the vault's f1 address from
// blake2b-256(CID bytes). Auth is on.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import glif from '@glif/filecoin-message';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { CID } from 'multiformats/cid';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { HwayClient } from '../actors/client.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { filAddress } from '../enclaves/addresses.js';
import { quietLogger } from './helpers/cli.js';
import { refusal } from './helpers/errors.js';
import { REDIS, testCluster } from './helpers/node.js';

// @zondax/filecoin-signing-tools (its Rust signer compiled to WASM) ships no type declarations.
interface Zondax {
  keyRecover(privateKeyBase64: string, testnet: boolean): { address: string };
  transactionSerialize(message: unknown): string;
  verifySignature(signatureBase64: string, serializedHex: string): boolean;
  getCid(messageOrSigned: unknown): string;
}
const zondax = createRequire(import.meta.url)('@zondax/filecoin-signing-tools') as Zondax;

const cluster = testCluster('chain-fil');
const secret = randomBytes(32).toString('hex');
let client: HwayClient;
let fil: string;
const VAULT = 'fil-1';

beforeAll(async () => {
  await cluster.node({ tokenSecret: secret, logger: quietLogger() }).start();
  const tokens = new TokenService({ redis: REDIS, secret, prefix: cluster.prefix, subscribe: false });
  const { token } = await tokens.issue({ account: 'chains', perm: 'sign', ttlSec: 3600 });
  await tokens.close();
  client = cluster.client({ token });
  fil = (await client.vault.generate(VAULT)).addresses.fil;
});
afterAll(async () => {
  await cluster.cleanup();
});

/** A second key's f1 address, as a recipient. */
const recipient = zondax.keyRecover(randomBytes(32).toString('base64'), false).address;

function message(over: Record<string, unknown> = {}): ReturnType<glif.Message['toLotusType']> {
  return new glif.Message({
    to: recipient,
    from: fil,
    nonce: 42,
    value: '1500000000000000000',
    gasLimit: 2_500_000,
    gasFeeCap: '100500',
    gasPremium: '99500',
    method: 0,
    params: '',
    ...over,
  }).toLotusType();
}

test('a vault-signed message verifies with @zondax/filecoin-signing-tools and its CIDs match', async () => {
  for (const m of [message(), message({ method: 3844450837, params: Buffer.from('hello params').toString('base64'), value: '0', nonce: 0 })]) {
    const r = await client.vault.signFilecoinMessage(VAULT, m);
    expect(r.signature.Type).toBe(1);
    const sig = Buffer.from(r.signature.Data, 'base64');
    expect(sig.length).toBe(65);
    expect([0, 1]).toContain(sig[64]);

    // Zondax serializes the same message (Lotus JSON) itself and checks the signature over it.
    const unsigned = zondax.transactionSerialize(m);
    expect(zondax.verifySignature(r.signature.Data, unsigned)).toBe(true);
    expect(r.cid).toBe(zondax.getCid(m));
    expect(r.signedCid).toBe(zondax.getCid({ Message: m, Signature: r.signature }));
    // A changed message does not verify: zondax really checks what was signed.
    expect(zondax.verifySignature(r.signature.Data, zondax.transactionSerialize({ ...m, Nonce: m.Nonce + 1 }))).toBe(false);

    // Independently: the key recovered from blake2b-256(CID bytes) has the vault's f1 address.
    const digest = blake2b(CID.parse(r.cid).bytes, { dkLen: 32 });
    const recoverable = new Uint8Array(65);
    recoverable[0] = sig[64]!;
    recoverable.set(sig.subarray(0, 64), 1);
    const pub = secp256k1.recoverPublicKey(recoverable, digest, { prehash: false });
    expect(filAddress(pub, 'f')).toBe(fil);
  }
});

test('a message whose From is the t1 spelling of the vault key, to ID and delegated addresses, is signed', async () => {
  for (const to of ['f01234', 't0100', 'f410fkkiiiaajqutyq3qpoayangcx2lsbnhxhe25pnua']) {
    const m = { ...message(), To: to, From: `t${fil.slice(1)}` };
    const r = await client.vault.signFilecoinMessage(VAULT, m);
    expect(zondax.verifySignature(r.signature.Data, zondax.transactionSerialize(m))).toBe(true);
    expect(r.cid).toBe(zondax.getCid(m));
  }
});

test('bad messages are refused: E_BAD_PAYLOAD naming the field, a foreign From E_FORBIDDEN', async () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ Value: '1.5' }, 'input.Value'],
    [{ Value: -1 }, 'input.Value'],
    [{ To: `${recipient.slice(0, -1)}${recipient.endsWith('a') ? 'b' : 'a'}` }, 'input.To'],
    [{ To: 'x1abc' }, 'input.To'],
    [{ Params: 'not base64!' }, 'input.Params'],
    [{ Nonce: 'seven' }, 'input.Nonce'],
    [{ GasLimit: undefined }, 'input.GasLimit'],
    [{ Version: 1 }, 'input.Version'],
    [{ CID: { '/': 'bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4' } }, 'input.CID'],
    [{ Gas: 5 }, 'input.Gas'],
  ];
  for (const [over, field] of cases) {
    const r = await refusal(client.vault.signFilecoinMessage(VAULT, JSON.parse(JSON.stringify({ ...message(), ...over }))));
    expect({ field, code: r.code }).toEqual({ field, code: 'E_BAD_PAYLOAD' });
    expect(r.message).toContain(field);
  }
  const foreign = await refusal(client.vault.signFilecoinMessage(VAULT, { ...message(), From: recipient }));
  expect(foreign.code).toBe('E_FORBIDDEN');
  expect(foreign.message).toContain('input.From');
  const id = await refusal(client.vault.signFilecoinMessage(VAULT, { ...message(), From: 'f01234' }));
  expect(id.code).toBe('E_FORBIDDEN');
});
