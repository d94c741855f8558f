// The runtime's vaults as signers of the gateway: `walletSign` for a vault's address reaches that
// vault's actor. The address index finds the vault (only within the asking account), and the
// signature is made by a vault:sign task, so it runs on the node that owns the vault, in order with
// the vault's other operations. With auth on, the task carries a short-lived internal token of the
// producer's account, so it is authorized exactly as the producer's own vault:sign would be.
import type { SignMeta } from '../gateway/frames.js';
import type { VaultSigners } from '../gateway/gateway.js';
import type { TokenService } from '../gateway/tokens.js';
import type { HwayClient } from '../client.js';
import type { VaultStore } from '../../storage/vault-store.js';

export function vaultSigners(store: VaultStore, client: HwayClient, tokens?: TokenService): VaultSigners {
  return {
    async lookup(account: string, address: string): Promise<string | null> {
      const v = await store.byAddress(address);
      return v !== null && v.account === account ? v.vaultId : null;
    },
    async sign(vaultId: string, digest32: Uint8Array, _meta: SignMeta, account: string): Promise<{ signature: Uint8Array; recovery: number }> {
      const auth = tokens === undefined ? {} : { _token: await tokens.mintInternal(account, 'sign') };
      const r = await client.call<{ signature: string; recovery: number }>(
        'vault:sign',
        { vaultId, data: Buffer.from(digest32).toString('hex'), hash: 'none', ...auth },
        { key: vaultId },
      );
      return { signature: Uint8Array.from(Buffer.from(r.signature, 'hex')), recovery: r.recovery };
    },
  };
}
