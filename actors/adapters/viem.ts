// `hway/viem`: a vault (or an address served by the signer gateway) as a viem LocalAccount, for
// walletClient.sendTransaction, signMessage, signTypedData and the rest of viem.
//
//   const account = await toViemAccount(client, 'treasury-1');          // or an 0x address
//   const wallet = createWalletClient({ account, chain, transport: http(url) });
//   await wallet.sendTransaction({ to, value: parseEther('0.1') });     // signed by the vault
import { toHex, type Hex, type LocalAccount, type SignableMessage, type TransactionSerializable } from 'viem';
import { toAccount } from 'viem/accounts';
import type { HwayClient } from '../client.js';
import type { TransactionInput, TypedDataInput } from '../chains/inputs.js';
import { HwayError } from '../../errors.js';
import { chainSigner, toJson } from './signer.js';

const TX_FIELDS = ['type', 'chainId', 'nonce', 'to', 'value', 'data', 'gas', 'gasPrice', 'maxFeePerGas', 'maxPriorityFeePerGas', 'accessList', 'from'] as const;
/** Fields of transaction types this adapter does not sign (EIP-4844 blobs, EIP-7702 authorizations). */
const UNSUPPORTED = ['blobs', 'blobVersionedHashes', 'maxFeePerBlobGas', 'sidecars', 'authorizationList'] as const;

/** viem's transaction (bigints) as the JSON document of the eth-tx scheme. */
export function viemTransactionInput(tx: TransactionSerializable | Record<string, unknown>): TransactionInput {
  const t = tx as Record<string, unknown>;
  for (const f of UNSUPPORTED) {
    if (t[f] !== undefined) throw new HwayError('E_BAD_INPUT', `transactions with ${f} are not supported (legacy, eip2930 and eip1559 are)`, { permanent: true });
  }
  const out: Record<string, unknown> = {};
  for (const f of TX_FIELDS) if (t[f] !== undefined && t[f] !== null) out[f] = toJson(t[f]);
  // viem names the EIP-1559 type `eip1559`, as the scheme does; `from` may be an account object.
  if (typeof t.from === 'object' && t.from !== null) out.from = (t.from as { address: string }).address;
  return out as unknown as TransactionInput;
}

function personal(message: SignableMessage): { message: string } | { raw: string } {
  if (typeof message === 'string') return { message };
  return { raw: typeof message.raw === 'string' ? message.raw : toHex(message.raw) };
}

/**
 * A viem `LocalAccount` whose keys stay in hway: `vaultIdOrAddress` is a vault id (signed through
 * vault tasks, permission "sign"; the vault's address is read once, permission "read") or an
 * 0x address served by the signer gateway (a connected wallet, or a vault's address).
 * `sign({ hash })` signs a raw digest; signTransaction signs legacy, EIP-2930 and EIP-1559
 * transactions (a chain's custom serializer is not used).
 */
export async function toViemAccount(client: HwayClient, vaultIdOrAddress: string): Promise<LocalAccount> {
  const s = await chainSigner(client, vaultIdOrAddress);
  return toAccount({
    address: s.address,
    sign: ({ hash }: { hash: Hex }) => s.signDigest(hash),
    signMessage: ({ message }: { message: SignableMessage }) => s.signMessage(personal(message)),
    signTypedData: (td) => s.signTypedData(toJson(td) as TypedDataInput),
    signTransaction: (tx) => s.signTransaction(viemTransactionInput(tx)),
  });
}
