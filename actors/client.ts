// The producer's client: the ingress client (enqueue, call, result) plus typed vault operations.
// Vault tasks are keyed by their vault id, so each reaches the one node that owns that vault's
// partition, and tasks of one vault run in order.
import { randomUUID } from 'node:crypto';
import { parseCredential, sealSecret } from './credential.js';
import type { JsonValue, SignMeta } from './gateway/frames.js';
import { GatewayClient, type MinerConnection, type SignResult, type WalletInfo } from './gateway/producer.js';
import { IngressClient, type IngressClientOptions } from './ingress/client.js';
import type { CallOptions } from './ingress/task.js';
import { checkExportPassword, type HashName } from './vault/payloads.js';
import type { Scheme } from './chains/names.js';
import type {
  EthSignatureResult,
  EthTransactionResult,
  FilecoinMessageInput,
  FilecoinSignedResult,
  PersonalMessageInput,
  TransactionInput,
  TypedDataInput,
} from './chains/inputs.js';

export type HwayClientOptions = IngressClientOptions;

export interface VaultView {
  vaultId: string;
  publicKey: string;
  addresses: { eth: string; fil: string };
}

export interface VaultInfo extends VaultView {
  account: string;
  epoch: number;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface SignatureResult {
  /** 64-byte r ‖ s, hex, low-S. */
  signature: string;
  /** Recovery id 0–3. */
  recovery: number;
}

type Data = Uint8Array | string;

const hexOf = (d: Data): string => (typeof d === 'string' ? d.replace(/^0x/, '') : Buffer.from(d).toString('hex'));

export class VaultClient {
  constructor(
    private readonly client: HwayClient,
    /** The credential's request key: passwords are sealed under it for the node (none without auth). */
    private readonly requestKey: Uint8Array | undefined,
  ) {}

  private run<T>(type: string, vaultId: string | undefined, payload: Record<string, unknown>, opts: CallOptions = {}): Promise<T> {
    return this.client.call<T>(type, payload, { ...(vaultId === undefined ? {} : { key: vaultId }), ...opts });
  }

  /**
   * A task carrying a password: with a credential the password is sealed (XChaCha20-Poly1305) under
   * a key of the request key and the task id, so Redis only ever holds the box.
   */
  private withPassword<T>(type: string, vaultId: string, payload: Record<string, unknown>, pw: string, opts: CallOptions = {}): Promise<T> {
    const id = opts.id ?? randomUUID();
    const rk = opts.credential?.requestKey ?? this.requestKey;
    const password = rk === undefined ? pw : sealSecret(rk, id, type, pw);
    return this.run<T>(type, vaultId, { ...payload, password }, { ...opts, id });
  }

  generate(vaultId: string, opts?: CallOptions): Promise<VaultView> {
    return this.run('vault:generate', vaultId, { vaultId }, opts);
  }
  /** Signs `data`: a 32-byte digest (hash "none", the default) or a message hashed by the node. */
  sign(vaultId: string, data: Data, o: { hash?: HashName } & CallOptions = {}): Promise<SignatureResult> {
    const { hash = 'none', ...opts } = o;
    return this.run('vault:sign', vaultId, { vaultId, data: hexOf(data), hash }, opts);
  }
  verify(publicKey: Data, data: Data, signature: Data, o: { hash?: HashName } & CallOptions = {}): Promise<{ valid: boolean }> {
    const { hash = 'none', ...opts } = o;
    return this.run('vault:verify', undefined, { publicKey: hexOf(publicKey), data: hexOf(data), signature: hexOf(signature), hash }, opts);
  }
  refresh(vaultId: string, opts?: CallOptions): Promise<{ vaultId: string; epoch: number; publicKey: string }> {
    return this.run('vault:refresh', vaultId, { vaultId }, opts);
  }
  /**
   * Password-encrypted export to IPFS (envelope v2: Argon2id, m = 256 MiB, t = 3); resolves to its
   * CID. A password shorter than 12 characters is refused here (E_WEAK_PASSWORD), before any request.
   */
  async export(vaultId: string, password: string, opts?: CallOptions): Promise<{ vaultId: string; cid: string }> {
    checkExportPassword(password);
    return this.withPassword('vault:export', vaultId, { vaultId }, password, opts);
  }
  /**
   * Restores an export as `vaultId` (v2, or a v1 envelope of older nodes; any password length).
   * `sourceVaultId`: the vault that made a v2 export, from the envelope's authenticated header.
   */
  import(cid: string, vaultId: string, password: string, opts?: CallOptions): Promise<VaultView & { sourceVaultId?: string }> {
    return this.withPassword('vault:import', vaultId, { vaultId, cid }, password, opts);
  }
  info(vaultId: string, opts?: CallOptions): Promise<VaultInfo> {
    return this.run('vault:info', vaultId, { vaultId }, opts);
  }
  delete(vaultId: string, opts?: CallOptions): Promise<{ vaultId: string; deleted: true }> {
    return this.run('vault:delete', vaultId, { vaultId }, opts);
  }

  // ---- chain-native signing (vault:sign-as, permission "sign"; see actors/chains) ----

  /** Signs `input` in the format of `scheme`: the node checks and hashes it, the vault signs the digest. */
  signAs<T = unknown>(vaultId: string, scheme: Scheme, input: unknown, opts?: CallOptions): Promise<T> {
    return this.run('vault:sign-as', vaultId, { vaultId, scheme, input }, opts);
  }
  /**
   * EIP-191 personal_sign: a string is signed as its UTF-8 text, bytes (or `{ raw: '0x…' }`) as they
   * are. Resolves to the 65-byte r‖s‖v signature (v = 27/28).
   */
  signMessage(vaultId: string, message: string | Uint8Array | PersonalMessageInput, opts?: CallOptions): Promise<EthSignatureResult> {
    const input = typeof message === 'string' ? { message } : ArrayBuffer.isView(message) ? { raw: `0x${Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('hex')}` } : message;
    return this.signAs(vaultId, 'eth-personal', input, opts);
  }
  /** EIP-712 (eth_signTypedData_v4 document; integers as numbers or decimal/0x strings). */
  signTypedData(vaultId: string, typedData: TypedDataInput, opts?: CallOptions): Promise<EthSignatureResult> {
    return this.signAs(vaultId, 'eth-typed', typedData, opts);
  }
  /** A legacy, EIP-2930 or EIP-1559 transaction; resolves to the signed serialization and its hash. */
  signTransaction(vaultId: string, tx: TransactionInput, opts?: CallOptions): Promise<EthTransactionResult> {
    return this.signAs(vaultId, 'eth-tx', tx, opts);
  }
  /** A Filecoin message (Lotus JSON) as Lotus signs it: secp256k1 over blake2b-256 of its CID. */
  signFilecoinMessage(vaultId: string, message: FilecoinMessageInput, opts?: CallOptions): Promise<FilecoinSignedResult> {
    return this.signAs(vaultId, 'fil-message', message, opts);
  }
}

export class HwayClient extends IngressClient {
  readonly vault: VaultClient;
  private readonly gatewayOptions: ConstructorParameters<typeof GatewayClient>[0];
  private gw: GatewayClient | undefined;

  constructor(opts: HwayClientOptions = {}) {
    super(opts);
    this.vault = new VaultClient(this, opts.token ? parseCredential(opts.token).requestKey : undefined);
    this.gatewayOptions = {
      ...(opts.redis === undefined ? {} : { redis: opts.redis }),
      ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
      ...(opts.token === undefined ? {} : { token: opts.token }),
    };
  }

  // ---- the signer gateway, as a producer: by address, whichever wallet (or vault) holds the key ----

  /** Whether a signer of this producer's account serves `address` (eth or fil spelling). */
  walletHas(address: string): Promise<boolean> {
    return this.gateway().walletHas(address);
  }
  /** Signs `bytes` with the key of `address`; meta.type 'raw' means bytes is a 32-byte digest. */
  walletSign(address: string, bytes: Uint8Array, meta?: SignMeta, opts?: { timeoutMs?: number }): Promise<SignResult> {
    return this.gateway().walletSign(address, bytes, meta, opts);
  }
  listWallets(): Promise<WalletInfo[]> {
    return this.gateway().listWallets();
  }
  listConnectedMiners(): Promise<string[]> {
    return this.gateway().listConnectedMiners();
  }
  listMinerConnection(miner: string): Promise<MinerConnection> {
    return this.gateway().listMinerConnection(miner);
  }
  computeProof(miner: string, sectorInfos: JsonValue, randomness: Uint8Array, opts?: { timeoutMs?: number }): Promise<JsonValue> {
    return this.gateway().computeProof(miner, sectorInfos, randomness, opts);
  }

  override async close(): Promise<void> {
    await this.gw?.close();
    await super.close();
  }

  /** Created on first use: a producer that only runs tasks never opens the gateway's connections. */
  private gateway(): GatewayClient {
    this.gw ??= new GatewayClient(this.gatewayOptions);
    return this.gw;
  }
}
