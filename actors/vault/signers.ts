// The runtime's vaults as signers of the gateway: `walletSign` for a vault's address reaches that
// vault's actor. The address index finds the vault (only within the asking account).
// - When this node owns the vault's partition, it calls the vault's actor in process, under the
//   partition's current fencing epoch: no request goes through Redis at all.
// - Otherwise the signature is made by a vault:sign task, so it runs on the node that owns the vault,
//   in order with the vault's other operations. With auth on, the task is signed with a short-lived
//   node credential of the producer's account (only its JWT and the task's MAC reach Redis, like any
//   producer's), so it is authorized, and charged to the account's rate limit, exactly as the
//   producer's own vault:sign.
import type { SignMeta } from '../gateway/frames.js';
import type { VaultSigners } from '../gateway/gateway.js';
import type { TokenService } from '../gateway/tokens.js';
import type { HwayClient } from '../client.js';
import { partitionOf } from '../ingress/partition.js';
import type { VaultStore } from '../../storage/vault-store.js';
import type { VaultSupervisor } from './vault-supervisor.js';

/** What the in-process path needs: which partitions this node owns now, and its vault actors. */
export interface LocalVaults {
  partitions: number;
  /** The fencing epoch under which this node owns partition p, or undefined when it does not. */
  epochOf(p: number): number | undefined;
  supervisor(): VaultSupervisor | undefined;
}

type Signed = { signature: string; recovery: number };

export function vaultSigners(store: VaultStore, client: HwayClient, tokens?: TokenService, local?: LocalVaults): VaultSigners {
  async function inProcess(vaultId: string, digest32: Uint8Array, account: string): Promise<Signed | undefined> {
    if (local === undefined) return undefined;
    const partition = partitionOf(vaultId, local.partitions);
    const fence = local.epochOf(partition);
    const supervisor = local.supervisor();
    if (fence === undefined || supervisor === undefined) return undefined;
    // The account the gateway verified, as a task's would be: the enclave still checks it against the seal.
    return (await supervisor.run(vaultId, { op: { kind: 'sign', digest: digest32 }, account: tokens === undefined ? '*' : account, partition, fence })) as Signed;
  }

  return {
    async lookup(account: string, address: string): Promise<string | null> {
      const v = await store.byAddress(address);
      return v !== null && v.account === account ? v.vaultId : null;
    },
    async sign(vaultId: string, digest32: Uint8Array, _meta: SignMeta, account: string): Promise<{ signature: Uint8Array; recovery: number }> {
      let r = await inProcess(vaultId, digest32, account);
      if (r === undefined) {
        const credential = tokens === undefined ? undefined : await tokens.nodeCredential(account, 'sign');
        r = await client.call<Signed>('vault:sign', { vaultId, data: Buffer.from(digest32).toString('hex'), hash: 'none' }, { key: vaultId, ...(credential === undefined ? {} : { credential }) });
      }
      return { signature: Uint8Array.from(Buffer.from(r.signature, 'hex')), recovery: r.recovery };
    },
  };
}
