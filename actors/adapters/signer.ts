// What the viem and ethers adapters share: an Ethereum signer backed by hway, either
//   - a vault (by id): the node checks, hashes and assembles (vault:sign-as), or
//   - an address (0x…) served by the signer gateway (a connected wallet, or a vault through the
//     node's vault signers): the digest is computed here with the same code the node runs
//     (actors/chains/ethereum.ts, viem), the gateway signs it, and the result is assembled here.
// Loaded only through hway/viem and hway/ethers.
import { isAddress, getAddress, type Hex } from 'viem';
import type { HwayClient } from '../client.js';
import type { PersonalMessageInput, TransactionInput, TypedDataInput } from '../chains/inputs.js';
import { preparePersonal, prepareTransaction, prepareTyped, rsv } from '../chains/ethereum.js';
import type { Prepared } from '../chains/common.js';
import { HwayError } from '../../errors.js';

export interface ChainSigner {
  readonly address: Hex;
  /** What backs it: `vault:<id>` or `address:<0x…>`. */
  readonly via: string;
  /** Signs a 32-byte digest as it is: 65-byte r ‖ s ‖ v (27/28). */
  signDigest(hash: Hex): Promise<Hex>;
  signMessage(input: PersonalMessageInput): Promise<Hex>;
  signTypedData(doc: TypedDataInput): Promise<Hex>;
  /** The signed serialization (0x…). */
  signTransaction(tx: TransactionInput): Promise<Hex>;
}

const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/^0x/, ''), 'hex'));

/**
 * JSON form of a value a library hands over: bigints as decimal strings, bytes as 0x hex, and
 * nothing undefined (JSON drops it anyway).
 */
export function toJson(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
    const b = v as Uint8Array;
    return `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`;
  }
  if (Array.isArray(v)) return v.map(toJson);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toJson(x);
    return out;
  }
  return v;
}

/** A vault (by id) or a gateway address (0x…) as an Ethereum signer. */
export async function chainSigner(client: HwayClient, vaultIdOrAddress: string): Promise<ChainSigner> {
  if (vaultIdOrAddress.startsWith('0x')) {
    if (!isAddress(vaultIdOrAddress, { strict: false })) throw new HwayError('E_BAD_INPUT', `${vaultIdOrAddress} is not an Ethereum address`, { permanent: true });
    return addressSigner(client, getAddress(vaultIdOrAddress));
  }
  return vaultSigner(client, vaultIdOrAddress);
}

async function vaultSigner(client: HwayClient, vaultId: string): Promise<ChainSigner> {
  const info = await client.vault.info(vaultId);
  const address = getAddress(info.addresses.eth);
  return {
    address,
    via: `vault:${vaultId}`,
    async signDigest(hash) {
      const s = await client.vault.sign(vaultId, unhex(hash));
      return rsv({ signature: unhex(s.signature), recovery: s.recovery });
    },
    signMessage: async (input) => (await client.vault.signMessage(vaultId, input)).signature,
    signTypedData: async (doc) => (await client.vault.signTypedData(vaultId, doc)).signature,
    signTransaction: async (tx) => (await client.vault.signTransaction(vaultId, tx)).serialized,
  };
}

function addressSigner(client: HwayClient, address: Hex): ChainSigner {
  // The gateway checks a signature over a digest it knows (raw, eth-personal) against the address.
  const viaGateway = async (p: Prepared, bytes: Uint8Array, type: 'raw' | 'eth-personal'): Promise<Record<string, unknown>> => {
    const s = await client.walletSign(address, bytes, { type });
    return p.finish({ signature: unhex(s.signature), recovery: s.recovery });
  };
  const digestOnly = (hash: Hex): Prepared => ({ digest: unhex(hash), finish: (sig) => ({ signature: rsv(sig) }) });
  return {
    address,
    via: `address:${address}`,
    async signDigest(hash) {
      return (await viaGateway(digestOnly(hash), unhex(hash), 'raw')).signature as Hex;
    },
    async signMessage(input) {
      const p = preparePersonal(input);
      // The wallet is shown the message itself (meta.type eth-personal), not just its digest.
      const bytes = input.message !== undefined ? new TextEncoder().encode(input.message) : unhex(input.raw!);
      return (await viaGateway(p, bytes, 'eth-personal')).signature as Hex;
    },
    async signTypedData(doc) {
      const p = prepareTyped(doc);
      return (await viaGateway(p, p.digest, 'raw')).signature as Hex;
    },
    async signTransaction(tx) {
      const p = prepareTransaction(tx);
      if (p.sender !== undefined && getAddress(p.sender.address) !== address) {
        throw new HwayError('E_FORBIDDEN', `${p.sender.field} ${p.sender.address} is not ${address}`, { permanent: true });
      }
      return (await viaGateway(p, p.digest, 'raw')).serialized as Hex;
    },
  };
}
