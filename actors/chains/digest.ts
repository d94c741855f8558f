// The one place that says what 32-byte digest a secp256k1 key signs for a named scheme: vault tasks
// (`hash`: none, sha256, keccak256), the gateway (meta.type: checking a wallet's signature, signing
// with a vault, auditing) and wallets (WalletConnector's localKeyWallet) all hash through it, so the
// three can never disagree about what was signed.
//
//   raw (vault tasks say "none")  the bytes are already the digest (exactly 32 bytes)
//   sha256, keccak256             that hash of the bytes
//   venus-<MsgType>               what a Venus wallet signs (venus-meta.ts), with Venus's checks of
//                                 toSign against meta.extra (E_BAD_PAYLOAD) and of the signer (E_FORBIDDEN)
//
// Not here: eth-personal (EIP-191), which the gateway adds from chains/ethereum.ts. Wallets load this
// module through hway/client, which must not load viem (it loads only through hway/viem; see
// spec/chain-adapters.test.ts), and viem is what hashes Ethereum messages.
import { createHash } from 'node:crypto';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { venusDigest } from './venus-meta.js';

/**
 * The digest signed for `type`, or undefined when the type is unknown or `raw` bytes are not 32 long
 * (callers word their own error: it is bad input in a task, an unsupported meta type in a frame).
 * `extra` is meta.extra; `signer` the signing address, when the scheme checks it.
 */
export function signingDigest(bytes: Uint8Array, type: string, extra?: unknown, signer?: string): Uint8Array | undefined {
  switch (type) {
    case 'raw':
    case 'none':
      return bytes.length === 32 ? bytes : undefined;
    case 'sha256':
      return new Uint8Array(createHash('sha256').update(bytes).digest());
    case 'keccak256':
      return keccak_256(bytes);
    default:
      return venusDigest(bytes, type, extra, signer);
  }
}
