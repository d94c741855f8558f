// 1,000 random keys and digests, the enclave against node:crypto (and @noble/curves for RFC 6979 and
// recovery): public keys agree, enclave signatures verify in node, node signatures verify in the
// enclave, and the strict mode refuses exactly the high-S ones.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import type { Enclave, VaultEnclave } from '../enclaves/enclave.js';
import { sealOnHost, sealV1OnHost } from './helpers/oracle.js';
import { bind, masterKey, openEnclave, testRing } from './helpers/enclave.js';

const N = 1000;
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const master = masterKey(7);
let enclave: Enclave;
let vault: VaultEnclave;

beforeAll(async () => {
  enclave = await openEnclave({ masterKeys: testRing(master) });
  vault = await enclave.vault();
});
afterAll(async () => {
  await vault?.close();
  await enclave?.close();
});

function nodeKeyPair(): { priv: Uint8Array; pub: Uint8Array; privateKey: ReturnType<typeof generateKeyPairSync>['privateKey'] } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  const jwk = privateKey.export({ format: 'jwk' });
  const priv = Uint8Array.from(Buffer.from(jwk.d!, 'base64url'));
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const uncompressed = spki.subarray(spki.length - 65);
  const pub = secp256k1.Point.fromBytes(uncompressed).toBytes(true);
  return { priv, pub, privateKey };
}

test(`${N} random keys: enclave and node:crypto agree`, async () => {
  let highS = 0;
  const jobs = Array.from({ length: N }, async (_, i) => {
    const { priv, pub, privateKey } = nodeKeyPair();
    const vaultId = `diff-${i}`;
    // Half in the format nodes write now (v2), half in the one older nodes wrote (v1, no account).
    const sealed = i % 2 === 0 ? sealOnHost(priv, bind(vaultId), master.key, master.id) : sealV1OnHost(priv, vaultId, master.key, master.id);
    const msg = randomBytes(1 + (i % 100));
    const digest = createHash('sha256').update(msg).digest();

    // The public key the enclave derives is node's.
    const refreshed = await vault.refresh(sealed, bind(vaultId));
    expect(Buffer.from(refreshed.publicKey).equals(Buffer.from(pub))).toBe(true);

    // Enclave signature: RFC 6979 (same bytes as noble), low-S, recoverable, valid in node.
    const { signature, recovery } = await vault.sign(sealed, bind(vaultId), digest);
    expect(Buffer.from(signature).equals(Buffer.from(secp256k1.sign(digest, priv, { prehash: false, lowS: true })))).toBe(true);
    expect(BigInt('0x' + Buffer.from(signature.subarray(32)).toString('hex')) <= HALF_N).toBe(true);
    const recovered = secp256k1.Signature.fromBytes(signature, 'compact').addRecoveryBit(recovery).recoverPublicKey(digest).toBytes(true);
    expect(Buffer.from(recovered).equals(Buffer.from(pub))).toBe(true);
    expect(verify('sha256', msg, { key: createPublicKey(privateKey), dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);

    // Node signature (possibly high-S): valid when high-S is allowed; strict mode refuses exactly high-S.
    const nodeSig = sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    const isHigh = BigInt('0x' + nodeSig.subarray(32).toString('hex')) > HALF_N;
    if (isHigh) highS++;
    expect(await enclave.verify(pub, digest, nodeSig, { allowHighS: true })).toBe(true);
    expect(await enclave.verify(pub, digest, nodeSig)).toBe(!isHigh);
    // A signature over another digest is refused.
    const other = createHash('sha256').update(Buffer.concat([msg, Buffer.of(1)])).digest();
    expect(await enclave.verify(pub, other, signature)).toBe(false);
  });
  await Promise.all(jobs);
  // Half of node's signatures are high-S: the strict branch really was exercised both ways.
  expect(highS).toBeGreaterThan(N / 4);
  expect(highS).toBeLessThan((3 * N) / 4);
  console.log(`differential: ${N} keys, ${highS} node signatures were high-S`);
});
