// WalletConnector: the library an external wallet process uses to serve its keys through the gateway.
// It proves possession of each address's key at every (re)connection by signing a challenge it
// computes itself — challengeDigest(its connection id, the account, gatewayNonce, its own fresh
// walletNonce) (frame-auth.ts) — and it refuses a gatewayNonce it has already seen, so it can never be
// made to sign a replayable proof, nor one that proves anything for another connection.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { HwayError } from '../../errors.js';
import { signingDigest } from '../chains/digest.js';
import { addressesOf, parseAddress, type FilNetwork } from '../../enclaves/addresses.js';
import { GatewayConnection, type ConnectorOptions, type Welcome } from './connection.js';
import { challengeDigest } from './frame-auth.js';
import type { ConnFrame, SignMeta, ToWalletFrame } from './frames.js';

export interface WalletSignature {
  /** 64 bytes r ‖ s (low-S), or its hex. */
  signature: Uint8Array | string;
  /** Recovery id 0–3. */
  recovery: number;
}

export interface SignRequest {
  /** The address as this wallet announced it. */
  address: string;
  bytes: Uint8Array;
  meta: SignMeta;
  deadline: number;
  /** Aborted when the gateway cancels the request or its deadline passes. */
  signal: AbortSignal;
}

export interface WalletConnectorOptions extends ConnectorOptions {
  addresses: string[];
  /** Signs a 32-byte digest with the key of `address`; used only for the connector's own challenges. */
  prove: (address: string, digest: Uint8Array) => Promise<WalletSignature> | WalletSignature;
  /** Answers producers' sign requests. */
  onSign: (req: SignRequest) => Promise<WalletSignature> | WalletSignature;
}

const toHex = (b: Uint8Array | string): string => (typeof b === 'string' ? b.toLowerCase() : Buffer.from(b).toString('hex'));

export class WalletConnector extends GatewayConnection {
  private readonly seenGatewayNonces = new Set<string>();

  constructor(private readonly w: WalletConnectorOptions) {
    for (const a of w.addresses) parseAddress(a);
    super('wallet', w.addresses, w);
  }

  get addresses(): string[] {
    return [...this.targets];
  }

  /** Announce more addresses on the live connection (a fresh challenge is proven for them). */
  addAddresses(addresses: string[]): Promise<Welcome> {
    for (const a of addresses) parseAddress(a);
    return this.addRound(addresses);
  }

  /** Stop serving addresses; the gateway drops their routes at once. */
  removeAddresses(addresses: string[]): Promise<void> {
    return this.removeTargets(addresses);
  }

  protected async prove(targets: string[], gatewayNonce: Uint8Array, walletNonce: Uint8Array, round: number, account: string): Promise<ConnFrame> {
    const g = Buffer.from(gatewayNonce).toString('hex');
    if (gatewayNonce.length !== 32) throw new HwayError('E_FORBIDDEN', 'gateway nonce must be 32 bytes');
    if (this.seenGatewayNonces.has(g)) throw new HwayError('E_FORBIDDEN', 'gateway reused a nonce: refusing to sign the challenge');
    this.seenGatewayNonces.add(g);
    if (this.seenGatewayNonces.size > 10_000) this.seenGatewayNonces.delete(this.seenGatewayNonces.values().next().value as string);
    const digest = challengeDigest(this.id, account, gatewayNonce, walletNonce);
    const proofs = [];
    for (const address of targets) {
      const s = await this.w.prove(address, digest);
      proofs.push({ address, signature: toHex(s.signature), recovery: s.recovery });
    }
    return { t: 'prove', conn: this.id, round, proofs };
  }

  protected async handle(frame: Extract<ToWalletFrame, { t: 'sign' | 'proof' }>, signal: AbortSignal): Promise<{ signature: string; recovery: number }> {
    if (frame.t !== 'sign') throw new HwayError('E_BAD_INPUT', 'this connection is a wallet, not a proof worker', { permanent: true });
    if (!this.targets.includes(frame.address)) throw new HwayError('E_NO_WALLET', `this wallet does not serve ${frame.address}`);
    const s = await this.w.onSign({ address: frame.address, bytes: new Uint8Array(Buffer.from(frame.bytes, 'hex')), meta: frame.meta, deadline: frame.deadline, signal });
    return { signature: toHex(s.signature), recovery: s.recovery };
  }
}

/**
 * Digest of `bytes` for meta.type (chains/digest.ts: raw, sha256, keccak256, eth-personal and the
 * Venus types "venus-<MsgType>", whose "message" must be from `address` when given). E_BAD_INPUT for
 * a type it does not know, or raw bytes that are not a 32-byte digest.
 */
export function digestFor(bytes: Uint8Array, meta: SignMeta, address?: string): Uint8Array {
  const d = signingDigest(bytes, meta.type, meta.extra, address);
  if (d !== undefined) return d;
  if (meta.type === 'raw') throw new HwayError('E_BAD_INPUT', 'raw signing takes a 32-byte digest', { permanent: true });
  throw new HwayError('E_BAD_INPUT', `unsupported meta.type "${meta.type}"`, { permanent: true });
}

/**
 * A wallet backed by secp256k1 private keys held in this process (@noble/curves): the `addresses`,
 * `prove` and `onSign` options of a WalletConnector. For tests, benchmarks and simple signers.
 */
export function localKeyWallet(
  privateKeys: Uint8Array[],
  opts: { form?: 'eth' | 'fil' | 'both'; filNetwork?: FilNetwork } = {},
): Pick<WalletConnectorOptions, 'addresses' | 'prove' | 'onSign'> {
  const byAddress = new Map<string, Uint8Array>();
  const addresses: string[] = [];
  for (const sk of privateKeys) {
    const a = addressesOf(secp256k1.getPublicKey(sk, false), { filNetwork: opts.filNetwork ?? 'f' });
    const form = opts.form ?? 'eth';
    for (const x of form === 'both' ? [a.eth, a.fil] : [form === 'eth' ? a.eth : a.fil]) {
      byAddress.set(x, sk);
      addresses.push(x);
    }
  }
  const signDigest = (address: string, digest: Uint8Array): WalletSignature => {
    const sk = byAddress.get(address);
    if (!sk) throw new HwayError('E_NO_WALLET', `no key for ${address}`);
    const sig = secp256k1.sign(digest, sk, { prehash: false, format: 'recovered' });
    return { signature: sig.subarray(1), recovery: sig[0]! };
  };
  return {
    addresses,
    prove: signDigest,
    onSign: (req) => signDigest(req.address, digestFor(req.bytes, req.meta, req.address)),
  };
}
