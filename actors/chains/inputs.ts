// The JSON documents of the chain-native schemes, as producers send them and get them back. Types
// only (no viem): hway/client names them without loading any chain library.

/** Integers travel as JSON numbers (safe integers), decimal strings or 0x hex strings. */
export type Quantity = number | string;

/** eth-personal (EIP-191 personal_sign): exactly one of `message` (UTF-8 text) or `raw` (0x hex bytes). */
export type PersonalMessageInput = { message: string; raw?: undefined } | { raw: string; message?: undefined };

/** eth-typed (EIP-712): an eth_signTypedData_v4 document (`types.EIP712Domain` optional). */
export interface TypedDataInput {
  domain?: { name?: string; version?: string; chainId?: Quantity; verifyingContract?: string; salt?: string };
  types: Readonly<Record<string, ReadonlyArray<{ readonly name: string; readonly type: string }>>>;
  primaryType: string;
  message: Readonly<Record<string, unknown>>;
}

/** eth-tx: a legacy (EIP-155), EIP-2930 or EIP-1559 transaction; the type is inferred from the fee fields when absent. */
export interface TransactionInput {
  type?: 'legacy' | 'eip2930' | 'eip1559' | 0 | 1 | 2 | '0x0' | '0x1' | '0x2';
  chainId: Quantity;
  nonce: Quantity;
  /** Absent or null: contract creation (then `data` is the code). */
  to?: string | null;
  value?: Quantity;
  data?: string;
  /** The gas limit (`gasLimit` is accepted as its other name). */
  gas?: Quantity;
  gasLimit?: Quantity;
  gasPrice?: Quantity;
  maxFeePerGas?: Quantity;
  maxPriorityFeePerGas?: Quantity;
  accessList?: ReadonlyArray<{ readonly address: string; readonly storageKeys: readonly string[] }>;
  /** When given it must be the vault's address, else the request is refused with E_FORBIDDEN. */
  from?: string;
}

/** fil-message: a Filecoin message in Lotus JSON; `From` must be the vault's f1/t1 address (E_FORBIDDEN otherwise). */
export interface FilecoinMessageInput {
  Version?: 0;
  To: string;
  From: string;
  Nonce: Quantity;
  /** attoFIL, decimal. */
  Value: string;
  GasLimit: Quantity;
  GasFeeCap: string;
  GasPremium: string;
  Method: Quantity;
  /** base64; empty or absent for none. */
  Params?: string | null;
  /** Optional: the CID the producer computed, checked against the message. */
  CID?: { '/': string };
}

/** eth-personal and eth-typed: 65-byte r ‖ s ‖ v (v = 27/28), 0x hex. */
export interface EthSignatureResult {
  signature: `0x${string}`;
}

/** eth-tx: the signed transaction, ready for eth_sendRawTransaction, and its hash. */
export interface EthTransactionResult {
  serialized: `0x${string}`;
  hash: `0x${string}`;
}

/** fil-message: a Lotus SignedMessage's parts. */
export interface FilecoinSignedResult {
  /** The message as signed, in canonical Lotus JSON. */
  message: Required<Omit<FilecoinMessageInput, 'CID' | 'Params'>> & { Params: string };
  /** Type 1 (secp256k1); Data: base64 of r ‖ s ‖ v (65 bytes, v = recovery id 0/1). */
  signature: { Type: 1; Data: string };
  /** CID of the unsigned message (signed: blake2b-256 of its bytes). */
  cid: string;
  /** CID of the signed message: what Lotus's mpool and explorers call a secp256k1 message. */
  signedCid: string;
  /** dag-cbor of the signed message, hex (MpoolPush of the raw bytes). */
  signedMessage: string;
}
