// Signature and crypto helpers of the gateway: the digests it knows how to check, public-key recovery,
// the proof-of-possession check of the handshake, fresh nonces, and the routing spellings of an
// address. Pure (but for the randomness of a nonce); kept out of the handshake, request and dispatch
// modules so that those stay about the flow of frames.
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { addressMatchesKey, ethAddress, filAddress, parseAddress } from '../../enclaves/addresses.js';
import { hashMessage } from 'viem';
import { signingDigest } from '../chains/digest.js';

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/** A fresh 32-byte nonce (a gatewayNonce: one per challenge, never reused). */
export function freshNonce(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

/**
 * The 32-byte digest signed for meta.type (chains/digest.ts: raw, sha256, keccak256 and the Venus
 * types, which throw E_BAD_PAYLOAD where Venus refuses; and eth-personal, EIP-191 by viem, which the
 * wallet side does not load), or undefined for a type the gateway cannot check. `extra` is meta.extra.
 */
export function knownDigest(data: Uint8Array, type: string, extra?: unknown): Uint8Array | undefined {
  if (type === 'eth-personal') return unhex(hashMessage({ raw: data }).slice(2));
  return type === 'none' ? undefined : signingDigest(data, type, extra);
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

/**
 * The public key proven by a handshake signature over `digest` for `address`: recovered from the
 * signature, and only if it is the key of that address; else undefined.
 */
export function provenKey(digest: Uint8Array, address: string, signatureHex: string, recovery: number): Uint8Array | undefined {
  const pk = recoverKey(digest, signatureHex, recovery);
  try {
    return pk && addressMatchesKey(address, pk) ? pk : undefined;
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
