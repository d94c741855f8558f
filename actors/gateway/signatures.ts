// Signature helpers of the gateway: the digests it knows how to check, public-key recovery, and the
// routing spellings of an address. Pure; moved out of gateway.ts so that the node's file stays about
// the flow of frames.
import { createHash } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { hashMessage } from 'viem';
import { ethAddress, filAddress, parseAddress } from '../../enclaves/addresses.js';

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/**
 * The 32-byte digest signed for meta.type raw (bytes itself), sha256, keccak256 and eth-personal
 * (bytes = the message; EIP-191 personal_sign, by viem); else undefined.
 */
export function knownDigest(data: Uint8Array, type: string): Uint8Array | undefined {
  if (type === 'raw') return data.length === 32 ? data : undefined;
  if (type === 'eth-personal') return unhex(hashMessage({ raw: data }).slice(2));
  if (type === 'sha256') return new Uint8Array(createHash('sha256').update(data).digest());
  if (type === 'keccak256') return keccak_256(data);
  return undefined;
}

/** Public key (65 bytes) that made `signatureHex` over `digest` with recovery id `recovery`, or undefined. */
export function recoverKey(digest: Uint8Array, signatureHex: string, recovery: number): Uint8Array | undefined {
  try {
    const sig = new Uint8Array(65);
    sig[0] = recovery;
    sig.set(unhex(signatureHex), 1);
    return secp256k1.Point.fromBytes(secp256k1.recoverPublicKey(sig, digest, { prehash: false })).toBytes(false);
  } catch {
    return undefined;
  }
}

/** Both routable spellings of a key: EIP-55 eth and f1 (t1 requests are mapped to f1). */
export function routeTargets(publicKey: Uint8Array): string[] {
  return [ethAddress(publicKey), filAddress(publicKey, 'f')];
}

/** Canonical routing spelling of a producer's address (t1… → f1…, eth → EIP-55). */
export function routingAddress(address: string): string {
  const p = parseAddress(address);
  return p.kind === 'fil' ? `f${p.canonical.slice(1)}` : p.canonical;
}
