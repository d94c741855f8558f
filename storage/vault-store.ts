// Vault records in Redis: sealed enclave data, public key, addresses, account, epoch, version.
// A record lives in its vault's partition (hash tag {p}); every write runs a Lua script that checks
// the partition's fencing epoch and the version the writer read, so a node that lost its lease, or a
// writer racing another, is refused instead of overwriting newer state.
//
// Effect-once: a write made for a task also stores that task's outcome in the effect ledger
// (`fx:<taskId>`, same slot), in the same script. A task that runs again because its node died after
// the write but before its outcome was stored finds the entry (appliedEffect) and answers it, instead
// of refreshing twice or answering E_VAULT_EXISTS for a vault it created itself.
import type { Redis } from 'ioredis';
import { HwayError, type ErrorCode } from '../errors.js';
import { Keys } from '../actors/ingress/keys.js';
import { EFFECT_TTL_MS } from './effects.js';
import { runScript } from './scripts.js';

export interface VaultRecord {
  vaultId: string;
  account: string;
  /**
   * Sealed enclave data, which only the enclave can open: 97 bytes (v2, bound to this vault id and to
   * the account it was sealed for), or 81 (v1, written by nodes up to ABI 2: no account, until a refresh).
   */
  sealed: Uint8Array;
  /** Compressed secp256k1 public key (33 bytes). */
  publicKey: Uint8Array;
  addresses: { eth: string; fil: string };
  /** Seal epoch: 0 when generated or imported, +1 per refresh. */
  epoch: number;
  /** Record version: +1 per write (optimistic concurrency). */
  version: number;
  createdAt: number;
  updatedAt: number;
}

export type NewVault = Omit<VaultRecord, 'version' | 'createdAt' | 'updatedAt'>;

/** The task a write belongs to, and the outcome that task answers once the write is done. */
export interface TaskEffect {
  taskId: string;
  value: Record<string, unknown>;
}

/** A ledger entry: the outcome, and the address index entries the write set or removed. */
interface LedgerEntry {
  value: Record<string, unknown>;
  index?: { set: boolean; entry: string; addresses: string[] };
}


const STABLE_CODES = new Set<ErrorCode>(['E_STALE_EPOCH', 'E_VAULT_EXISTS', 'E_UNKNOWN_VAULT', 'E_CONFLICT']);

/** Script error replies start with a stable code; turn them into HwayErrors. */
function scriptError(err: unknown): never {
  const text = err instanceof Error ? err.message : String(err);
  const code = text.split(' ')[0] as ErrorCode;
  if (STABLE_CODES.has(code)) {
    const permanent = code === 'E_VAULT_EXISTS' || code === 'E_UNKNOWN_VAULT';
    throw new HwayError(code, text.slice(code.length + 1), { permanent });
  }
  throw err;
}

function fields(r: NewVault | VaultRecord, now: number, createdAt: number): string[] {
  return [
    'vaultId', r.vaultId,
    'account', r.account,
    'sealed', Buffer.from(r.sealed).toString('hex'),
    'publicKey', Buffer.from(r.publicKey).toString('hex'),
    'eth', r.addresses.eth,
    'fil', r.addresses.fil,
    'epoch', String(r.epoch),
    'createdAt', String(createdAt),
    'updatedAt', String(now),
  ];
}

export class VaultStore {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix = 'hway',
  ) {
    this.keys = new Keys(prefix);
  }

  recordKey(partition: number, vaultId: string): string {
    return `${this.keys.part(partition)}vault:${vaultId}`;
  }

  /**
   * The address index (outside the partition: an address hashes elsewhere) used by the gateway. A
   * Filecoin address is indexed by its mainnet spelling (f…): the gateway routes t… and f… as one
   * address, and a node with filNetwork 't' records t… addresses, which the gateway's lookups (f…)
   * would otherwise never find.
   */
  addressKey(address: string): string {
    const a = /^[ft][0-4]/.test(address) ? `f${address.slice(1)}` : address;
    return `${this.keys.prefix}:addr:${a}`;
  }

  async get(partition: number, vaultId: string): Promise<VaultRecord | null> {
    const h = await this.redis.hgetall(this.recordKey(partition, vaultId));
    if (h.version === undefined) return null;
    return {
      vaultId: h.vaultId!,
      account: h.account!,
      sealed: Uint8Array.from(Buffer.from(h.sealed!, 'hex')),
      publicKey: Uint8Array.from(Buffer.from(h.publicKey!, 'hex')),
      addresses: { eth: h.eth!, fil: h.fil! },
      epoch: Number(h.epoch),
      version: Number(h.version),
      createdAt: Number(h.createdAt),
      updatedAt: Number(h.updatedAt),
    };
  }

  /** Creates a record; E_VAULT_EXISTS if the id is taken, E_STALE_EPOCH if the lease moved on. */
  async create(partition: number, fence: number, r: NewVault, task?: TaskEffect): Promise<VaultRecord> {
    const now = Date.now();
    const index = { set: true, entry: indexEntry(r), addresses: [r.addresses.eth, r.addresses.fil] };
    const version = await this.put(partition, fence, 0, fields(r, now, now), r.vaultId, task, index);
    await this.applyIndex(index);
    return { ...r, version, createdAt: now, updatedAt: now };
  }

  /** Replaces a record the writer read at `r.version`. */
  async update(partition: number, fence: number, r: VaultRecord, task?: TaskEffect): Promise<VaultRecord> {
    const now = Date.now();
    const version = await this.put(partition, fence, r.version, fields(r, now, r.createdAt), r.vaultId, task);
    return { ...r, version, updatedAt: now };
  }

  async delete(partition: number, fence: number, r: VaultRecord, task?: TaskEffect): Promise<void> {
    const index = { set: false, entry: indexEntry(r), addresses: [r.addresses.eth, r.addresses.fil] };
    const keys = [this.recordKey(partition, r.vaultId), this.keys.epoch(partition), this.ledgerKey(partition, task)];
    await runScript(this.redis, 'vault_delete', keys, [fence, r.version, ledger(task, index), EFFECT_TTL_MS]).catch(scriptError);
    await this.applyIndex(index);
  }

  /**
   * The outcome of `taskId` if its write already happened (it ran before, on a node that died before
   * storing the outcome), else null. The address index, written after the record and so possibly
   * missed by that crash, is brought up to date first: both steps are idempotent.
   */
  async appliedEffect(partition: number, taskId: string): Promise<Record<string, unknown> | null> {
    const raw = await this.redis.get(this.keys.effect(partition, taskId));
    if (raw === null) return null;
    const entry = JSON.parse(raw) as LedgerEntry;
    if (entry.index !== undefined) await this.applyIndex(entry.index);
    return entry.value;
  }

  /** The vault that holds `address` (canonical form), with its account, if any. */
  async byAddress(address: string): Promise<{ account: string; vaultId: string } | null> {
    const v = await this.redis.get(this.addressKey(address));
    if (v === null) return null;
    const bar = v.indexOf('|');
    return { account: v.slice(0, bar), vaultId: v.slice(bar + 1) };
  }

  private async put(partition: number, fence: number, version: number, f: string[], vaultId: string, task?: TaskEffect, index?: LedgerEntry['index']): Promise<number> {
    const keys = [this.recordKey(partition, vaultId), this.keys.epoch(partition), this.ledgerKey(partition, task)];
    return Number(await runScript(this.redis, 'vault_put', keys, [fence, version, ledger(task, index), EFFECT_TTL_MS, ...f]).catch(scriptError));
  }

  /** A script declares every key it may touch; without a task the ledger key is declared but unused. */
  private ledgerKey(partition: number, task: TaskEffect | undefined): string {
    return this.keys.effect(partition, task?.taskId ?? '-');
  }

  /** Sets (or removes, where they still point at this vault) the address index entries of a vault. */
  private async applyIndex(index: NonNullable<LedgerEntry['index']>): Promise<void> {
    // One key at a time, not MSET/DEL of several: the keys hash to different cluster slots.
    await Promise.all(
      index.addresses.map(async (a) => {
        const key = this.addressKey(a);
        if (index.set) await this.redis.set(key, index.entry);
        // Only entries that still point at this vault: the address could have been imported again.
        else if ((await this.redis.get(key)) === index.entry) await this.redis.del(key);
      }),
    );
  }
}

const indexEntry = (r: NewVault): string => `${r.account}|${r.vaultId}`;

function ledger(task: TaskEffect | undefined, index?: LedgerEntry['index']): string {
  if (task === undefined) return '';
  const entry: LedgerEntry = index === undefined ? { value: task.value } : { value: task.value, index };
  return JSON.stringify(entry);
}
