// ProofWorkerConnector: a proof worker (e.g. a Filecoin window-PoSt prover) registering the miner ids
// it computes proofs for. Same connection, health, failover and deadline rules as wallets; a miner id
// has no key to prove, so the token's account is what authorises the registration (its hello carries
// the JWT and a MAC under the request key; the welcome names round 0's gatewayNonce, from which the
// worker derives the connection's frame key: connection.ts, wallet-auth.ts).
import { HwayError } from '../../errors.js';
import { GatewayConnection, type ConnectorOptions, type Welcome } from './connection.js';
import { MINER_RE, type ConnFrame, type JsonValue, type ToWalletFrame } from './frames.js';

export interface ProofRequest {
  miner: string;
  sectorInfos: JsonValue;
  randomness: Uint8Array;
  deadline: number;
  signal: AbortSignal;
}

export interface ProofWorkerConnectorOptions extends ConnectorOptions {
  miners: string[];
  onProof: (req: ProofRequest) => Promise<JsonValue> | JsonValue;
}

export class ProofWorkerConnector extends GatewayConnection {
  constructor(private readonly p: ProofWorkerConnectorOptions) {
    for (const m of p.miners) if (!MINER_RE.test(m)) throw new HwayError('E_BAD_INPUT', `"${m}" is not a miner id (f0…/t0…)`, { permanent: true });
    super('proof', p.miners, p);
  }

  get miners(): string[] {
    return [...this.targets];
  }

  addMiners(miners: string[]): Promise<Welcome> {
    return this.addRound(miners);
  }

  removeMiners(miners: string[]): Promise<void> {
    return this.removeTargets(miners);
  }

  protected async prove(): Promise<ConnFrame | undefined> {
    return undefined;
  }

  protected async handle(frame: Extract<ToWalletFrame, { t: 'sign' | 'proof' }>, signal: AbortSignal): Promise<{ value: JsonValue }> {
    if (frame.t !== 'proof') throw new HwayError('E_BAD_INPUT', 'this connection is a proof worker, not a wallet', { permanent: true });
    if (!this.targets.includes(frame.miner)) throw new HwayError('E_NO_WALLET', `this worker does not serve miner ${frame.miner}`);
    const value = await this.p.onProof({ miner: frame.miner, sectorInfos: frame.sectorInfos, randomness: new Uint8Array(Buffer.from(frame.randomness, 'hex')), deadline: frame.deadline, signal });
    return { value };
  }
}
