// `hway/ethers`: a vault (or an address served by the signer gateway) as an ethers v6 Signer.
//
//   const signer = await HwayEthersSigner.create(client, 'treasury-1', provider);   // or an 0x address
//   await signer.sendTransaction({ to, value: parseEther('0.1') });                 // signed by the vault
import {
  AbstractSigner,
  accessListify,
  hexlify,
  resolveAddress,
  TypedDataEncoder,
  type Provider,
  type TransactionLike,
  type TransactionRequest,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers';
import type { HwayClient } from '../client.js';
import type { TransactionInput, TypedDataInput } from '../chains/inputs.js';
import { HwayError } from '../../errors.js';
import { chainSigner, toJson, type ChainSigner } from './signer.js';

const TYPES: Record<number, TransactionInput['type']> = { 0: 'legacy', 1: 'eip2930', 2: 'eip1559' };

export class HwayEthersSigner extends AbstractSigner {
  /** `vaultIdOrAddress`: a vault id (vault tasks) or an 0x address served by the signer gateway. */
  static async create(client: HwayClient, vaultIdOrAddress: string, provider: Provider | null = null): Promise<HwayEthersSigner> {
    return new HwayEthersSigner(await chainSigner(client, vaultIdOrAddress), provider);
  }

  private constructor(
    private readonly backend: ChainSigner,
    provider: Provider | null,
  ) {
    super(provider);
  }

  /** The vault's (or gateway address's) EIP-55 address. */
  get address(): string {
    return this.backend.address;
  }

  async getAddress(): Promise<string> {
    return this.backend.address;
  }

  connect(provider: Provider | null): HwayEthersSigner {
    return new HwayEthersSigner(this.backend, provider);
  }

  /** Legacy, EIP-2930 and EIP-1559 transactions (ENS names resolved through the provider). */
  async signTransaction(tx: TransactionRequest): Promise<string> {
    const t = tx as TransactionLike<string> & TransactionRequest;
    if (t.type != null && TYPES[Number(t.type)] === undefined) {
      throw new HwayError('E_BAD_INPUT', `transaction type ${t.type} is not supported (0, 1 and 2 are)`, { permanent: true });
    }
    const [to, from] = await Promise.all([
      t.to == null ? null : resolveAddress(t.to, this.provider),
      t.from == null ? null : resolveAddress(t.from, this.provider),
    ]);
    const input: Record<string, unknown> = {
      type: t.type == null ? undefined : TYPES[Number(t.type)],
      chainId: t.chainId,
      nonce: t.nonce,
      to,
      value: t.value,
      data: t.data == null ? undefined : hexlify(t.data),
      gas: t.gasLimit,
      gasPrice: t.gasPrice,
      maxFeePerGas: t.maxFeePerGas,
      maxPriorityFeePerGas: t.maxPriorityFeePerGas,
      accessList: t.accessList == null ? undefined : accessListify(t.accessList),
      from,
    };
    for (const k of Object.keys(input)) if (input[k] == null) delete input[k];
    return this.backend.signTransaction(toJson(input) as TransactionInput);
  }

  /** EIP-191 personal_sign: a string as UTF-8 text, bytes as they are. */
  async signMessage(message: string | Uint8Array): Promise<string> {
    return this.backend.signMessage(typeof message === 'string' ? { message } : { raw: hexlify(message) });
  }

  /** EIP-712 (`types` without EIP712Domain, as ethers takes them; ENS names resolved). */
  async signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string> {
    const populated = await TypedDataEncoder.resolveNames(domain, types, value, async (name: string) => {
      if (this.provider == null) throw new HwayError('E_BAD_INPUT', `cannot resolve the ENS name ${name} without a provider`, { permanent: true });
      const a = await this.provider.resolveName(name);
      if (a == null) throw new HwayError('E_BAD_INPUT', `ENS name ${name} does not resolve`, { permanent: true });
      return a;
    });
    const doc = { domain: populated.domain, types, primaryType: TypedDataEncoder.getPrimaryType(types), message: populated.value };
    return this.backend.signTypedData(toJson(doc) as TypedDataInput);
  }
}
