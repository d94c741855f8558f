// VaultActor(vaultId): the only place where a vault's operations run. nact delivers its messages one at
// a time, so no two operations on one vault ever overlap; the partition lease makes it the only such
// actor in the cluster. It owns one enclave instance and a cached copy of its record.
//
// States: loading (no enclave instance yet, record not read) → ready → passivated (stopped by the
// supervisor when idle: afterStop closes the instance and frees its memory). An enclave that times out
// or traps makes the handler throw after answering the message: the supervision policy (see
// vault-supervisor.ts) then resets the actor, which starts again from the stored record.
import { addressesOf, type FilNetwork } from '../../enclaves/addresses.js';
import { isAccountBound, type Enclave, type Generated, type SealBinding, type VaultEnclave } from '../../enclaves/enclave.js';
import { HwayError, isHwayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { IpfsStore } from '../../storage/ipfs.js';
import type { NewVault, TaskEffect, VaultRecord, VaultStore } from '../../storage/vault-store.js';

export type VaultOp =
  | { kind: 'generate' }
  | { kind: 'sign'; digest: Uint8Array }
  | { kind: 'refresh' }
  | { kind: 'export'; password: string }
  | { kind: 'import'; cid: string; password: string }
  | { kind: 'info' }
  | { kind: 'delete' };

/** Results are JSON-ready: they go back to producers through the ingress. */
export type VaultResult = Record<string, string | number | boolean | Record<string, string>>;

export interface VaultMsg {
  op: VaultOp;
  /**
   * Account of the requester as the node verified it (a token's); '*' only when auth is off. The
   * enclave opens the vault's seal for this account only, so it must never come from Redis.
   */
  account: string;
  /** Partition of the vault and the fencing epoch under which this node holds it. */
  partition: number;
  fence: number;
  /** The task this operation runs for: its state change is recorded under this id (effect-once). */
  taskId?: string;
  resolve: (value: VaultResult) => void;
  reject: (err: unknown) => void;
}

export interface VaultState {
  instance: VaultEnclave | null;
  /** undefined: not read yet; null: no such vault. */
  record: VaultRecord | null | undefined;
  /** Fencing epoch under which `record` was read: a new lease (another owner in between) re-reads. */
  readUnder: number;
}

export interface VaultDeps {
  enclave: Enclave;
  store: VaultStore;
  /** The node's IPFS store, opened on first use (Helia costs ~1.5 s and ~100 MiB to load). */
  ipfs: () => Promise<IpfsStore>;
  ipfsTimeoutMs: number;
  filNetwork: FilNetwork;
  /** Account recorded for vaults created without auth. */
  defaultAccount: string;
  log: Logger;
}

/** Enclave failures that leave the instance suspect: the actor is reset from the stored record. */
export class EnclaveFailure extends Error {
  constructor(readonly cause: HwayError) {
    super(`enclave failed: ${cause.code}`);
  }
}

export const initialVaultState = (): VaultState => ({ instance: null, record: undefined, readUnder: 0 });

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function view(r: NewVault): VaultResult {
  return { vaultId: r.vaultId, publicKey: hex(r.publicKey), addresses: { ...r.addresses } };
}

export async function handleVaultMsg(deps: VaultDeps, vaultId: string, state: VaultState, msg: VaultMsg): Promise<VaultState> {
  const s: VaultState = { ...state };
  try {
    s.instance ??= await deps.enclave.vault();
    // A task that changes state may have run before, on a node that died after its write and before
    // its outcome was stored: its ledger entry answers it, and it must not run again.
    const applied = msg.taskId !== undefined && CHANGES_STATE.has(msg.op.kind) ? await deps.store.appliedEffect(msg.partition, msg.taskId) : null;
    if (applied !== null) {
      s.record = undefined; // written by that earlier run: read it again next time
      deps.log.info('vault operation already applied: answering its recorded outcome', { vault: vaultId, op: msg.op.kind, task: msg.taskId! });
      msg.resolve(applied as VaultResult);
      return s;
    }
    if (s.record === undefined || s.readUnder !== msg.fence) {
      s.record = await deps.store.get(msg.partition, vaultId);
      s.readUnder = msg.fence;
    }
    const { value, record } = await perform(deps, vaultId, s.instance, s.record, msg);
    s.record = record;
    deps.log.debug('vault operation done', { vault: vaultId, op: msg.op.kind, fence: msg.fence });
    msg.resolve(value);
    return s;
  } catch (err) {
    deps.log.debug('vault operation failed', { vault: vaultId, op: msg.op.kind, code: isHwayError(err) ? err.code : 'E_INTERNAL' });
    msg.reject(err);
    if (isHwayError(err) && (err.code === 'E_TIMEOUT' || err.code === 'E_ENCLAVE')) {
      await s.instance?.close();
      throw new EnclaveFailure(err);
    }
    // Someone else wrote (or the lease moved): read the record again next time.
    if (isHwayError(err) && (err.code === 'E_CONFLICT' || err.code === 'E_STALE_EPOCH')) s.record = undefined;
    return s;
  }
}

/** Operations that write the vault's record; each write carries its task's outcome (effect-once). */
const CHANGES_STATE = new Set<VaultOp['kind']>(['generate', 'refresh', 'import', 'delete']);

/**
 * The account the enclave checks the seal against (ABI.md, "Sealed vault data"): the request's verified
 * account, whatever the record says, so that rewriting `account` in Redis gains nothing. With auth off
 * ('*') there is no verified account and the record's is used: auth off means Redis is trusted.
 */
function binding(vaultId: string, msg: VaultMsg, record: VaultRecord): SealBinding {
  return { vaultId, account: msg.account === '*' ? record.account : msg.account };
}

/**
 * Runs an enclave call on the record's seal. E_FORBIDDEN from the enclave, after owned() let the
 * request through, means the record's `account` no longer matches its seal: it was changed outside
 * hway, which an operator should hear about (the request is refused either way).
 */
async function onSeal<T>(deps: VaultDeps, vaultId: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (isHwayError(err) && err.code === 'E_FORBIDDEN') {
      deps.log.warn('the enclave refused a request of the account the vault record names: the record was changed outside hway', { vault: vaultId });
    }
    throw err;
  }
}

/** The cheap early refusal on the record's account; the enclave's check of the seal is the real one. */
function owned(record: VaultRecord | null, vaultId: string, account: string): VaultRecord {
  if (record === null) throw new HwayError('E_UNKNOWN_VAULT', `no vault ${vaultId}`, { permanent: true });
  if (account !== '*' && record.account !== account) throw new HwayError('E_FORBIDDEN', `vault ${vaultId} belongs to another account`, { permanent: true });
  return record;
}

function absent(record: VaultRecord | null, vaultId: string): void {
  if (record !== null) throw new HwayError('E_VAULT_EXISTS', `vault ${vaultId} exists`, { permanent: true });
}

async function perform(
  deps: VaultDeps,
  vaultId: string,
  instance: VaultEnclave,
  record: VaultRecord | null,
  msg: VaultMsg,
): Promise<{ value: VaultResult; record: VaultRecord | null }> {
  const account = msg.account === '*' ? deps.defaultAccount : msg.account;
  const { op, partition, fence } = msg;
  // The outcome is known before the write, so that the write can record it for its task.
  const effect = (value: VaultResult): TaskEffect | undefined => (msg.taskId === undefined ? undefined : { taskId: msg.taskId, value });
  const create = async (g: Generated, extra: VaultResult = {}): Promise<{ value: VaultResult; record: VaultRecord }> => {
    const vault: NewVault = { vaultId, account, sealed: g.sealed, publicKey: g.publicKey, addresses: addressesOf(g.publicKey, { filNetwork: deps.filNetwork }), epoch: 0 };
    const value = { ...view(vault), ...extra };
    return { value, record: await deps.store.create(partition, fence, vault, effect(value)) };
  };
  switch (op.kind) {
    case 'generate': {
      absent(record, vaultId);
      return create(await instance.generate({ vaultId, account }));
    }
    case 'sign': {
      const r = owned(record, vaultId, msg.account);
      const s = await onSeal(deps, vaultId, () => instance.sign(r.sealed, binding(vaultId, msg, r), op.digest));
      return { value: { signature: hex(s.signature), recovery: s.recovery }, record: r };
    }
    case 'refresh': {
      const r = owned(record, vaultId, msg.account);
      // A record sealed without an account (v1) opens for any; its refresh binds it to the record's
      // account (the requester's, which owned() just matched), and from then on that one is binding.
      const legacy = !isAccountBound(r.sealed);
      const next = await onSeal(deps, vaultId, () => instance.refresh(r.sealed, binding(vaultId, msg, r)));
      if (legacy) deps.log.info('vault sealed without an account: re-sealed bound to its account', { vault: vaultId });
      const value = { vaultId, epoch: r.epoch + 1, publicKey: hex(r.publicKey) };
      return { value, record: await deps.store.update(partition, fence, { ...r, sealed: next.sealed, epoch: r.epoch + 1 }, effect(value)) };
    }
    case 'export': {
      const r = owned(record, vaultId, msg.account);
      const envelope = await onSeal(deps, vaultId, () => instance.export(r.sealed, binding(vaultId, msg, r), op.password));
      const cid = await (await deps.ipfs()).put(envelope);
      return { value: { vaultId, cid }, record: r };
    }
    case 'import': {
      absent(record, vaultId);
      const envelope = await (await deps.ipfs()).get(op.cid, { timeoutMs: deps.ipfsTimeoutMs });
      // v2 envelopes name (authenticated) the vault they were exported from; v1 ones do not.
      const imported = await instance.import(envelope, op.password, { vaultId, account });
      return create(imported, imported.sourceVaultId === null ? {} : { sourceVaultId: imported.sourceVaultId });
    }
    case 'info': {
      const r = owned(record, vaultId, msg.account);
      // Nothing secret is read, but the record must be this account's by its seal, not by its field.
      await onSeal(deps, vaultId, () => instance.checkSeal(r.sealed, binding(vaultId, msg, r)));
      return { value: { ...view(r), account: r.account, epoch: r.epoch, version: r.version, createdAt: r.createdAt, updatedAt: r.updatedAt }, record: r };
    }
    case 'delete': {
      const r = owned(record, vaultId, msg.account);
      // Another account's seal is refused; a seal that no longer opens at all (damaged, or under a
      // retired master key) can still be deleted: that is how an operator gets rid of it.
      await onSeal(deps, vaultId, () => instance.checkSeal(r.sealed, binding(vaultId, msg, r))).catch((e: unknown) => {
        if (!isHwayError(e) || (e.code !== 'E_CORRUPT' && e.code !== 'E_KEY_RETIRED')) throw e;
      });
      const value = { vaultId, deleted: true };
      await deps.store.delete(partition, fence, r, effect(value));
      return { value, record: null };
    }
  }
}
