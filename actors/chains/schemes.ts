// Chain-native signing schemes: a scheme and its input in, the 32-byte digest the vault signs and how
// to assemble the scheme's own signature format out. Everything here is pure (no Redis, no enclave):
// actors/vault/tasks.ts runs `vault:sign-as` with it, and a node refuses a bad input before any
// vault is touched (E_BAD_PAYLOAD naming the field).
import { addressMatchesKey } from '../../enclaves/addresses.js';
import { HwayError } from '../../errors.js';
import { bad, type Prepared } from './common.js';
import { isScheme, SCHEMES, type Scheme } from './names.js';
import { preparePersonal, prepareTransaction, prepareTyped } from './ethereum.js';
import { prepareFilecoinMessage } from './filecoin.js';

export type { Prepared, RawSignature } from './common.js';

export { SCHEMES, isScheme, type Scheme } from './names.js';

const PREPARE: Record<Scheme, (input: unknown) => Prepared> = {
  'eth-personal': preparePersonal,
  'eth-typed': prepareTyped,
  'eth-tx': prepareTransaction,
  'fil-message': prepareFilecoinMessage,
};

/** Validates `input` for `scheme` and computes what to sign. */
export function prepare(scheme: unknown, input: unknown): Prepared {
  if (!isScheme(scheme)) bad('scheme', `must be one of ${SCHEMES.join(', ')}`);
  if (input === undefined) bad('input', 'is required');
  return PREPARE[scheme](input);
}

/**
 * Refuses (E_FORBIDDEN, permanent) an input whose sender is not the vault's own key: a transaction
 * `from` another address would be signed by the wrong key and rejected by the chain at best.
 */
export function checkSender(p: Prepared, publicKey: Uint8Array, vaultId: string): void {
  if (p.sender === undefined) return;
  let ok = false;
  try {
    ok = addressMatchesKey(p.sender.address, publicKey);
  } catch {
    ok = false; // another kind of address (f0, f4, …): not this vault's key address
  }
  if (!ok) throw new HwayError('E_FORBIDDEN', `${p.sender.field} ${p.sender.address} is not an address of vault ${vaultId}`, { permanent: true });
}
