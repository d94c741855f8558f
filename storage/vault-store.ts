// Vault records in Redis: sealed enclave data, public key, addresses, account, epoch, version.
// A record lives in its vault's partition (hash tag {p}); every write runs a Lua script that checks
// the partition's fencing epoch and the version the writer read, so a node that lost its lease, or a
// writer racing another, is refused instead of overwriting newer state.
import type { Redis } from 'ioredis';
import { HwayError, type ErrorCode } from '../errors.js';
import { Keys } from '../actors/ingress/keys.js';
import { runScript } from './scripts.js';

export interface VaultRecord {
  vaultId: string;
  account: string;
  /** Sealed enclave data (81 bytes; only the enclave can open it). */
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

  /** The address index (outside the partition: an address hashes elsewhere) used by the gateway. */
  addressKey(address: string): string {
    return `${this.keys.prefix}:addr:${address}`;
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
  async create(partition: number, fence: number, r: NewVault): Promise<VaultRecord> {
    const now = Date.now();
    const version = await this.put(partition, fence, 0, fields(r, now, now), r.vaultId);
    await this.indexAddresses(r);
    return { ...r, version, createdAt: now, updatedAt: now };
  }

  /** Replaces a record the writer read at `r.version`. */
  async update(partition: number, fence: number, r: VaultRecord): Promise<VaultRecord> {
    const now = Date.now();
    const version = await this.put(partition, fence, r.version, fields(r, now, r.createdAt), r.vaultId);
    return { ...r, version, updatedAt: now };
  }

  async delete(partition: number, fence: number, r: VaultRecord): Promise<void> {
    await runScript(this.redis, 'vault_delete', [this.recordKey(partition, r.vaultId), this.keys.epoch(partition)], [fence, r.version]).catch(scriptError);
    // Only remove index entries that still point at this vault (an address could have been re-imported).
    for (const a of [r.addresses.eth, r.addresses.fil]) {
      const key = this.addressKey(a);
      if ((await this.redis.get(key)) === `${r.account}|${r.vaultId}`) await this.redis.del(key);
    }
  }

  /** The vault that holds `address` (canonical form), with its account, if any. */
  async byAddress(address: string): Promise<{ account: string; vaultId: string } | null> {
    const v = await this.redis.get(this.addressKey(address));
    if (v === null) return null;
    const bar = v.indexOf('|');
    return { account: v.slice(0, bar), vaultId: v.slice(bar + 1) };
  }

  private async put(partition: number, fence: number, version: number, f: string[], vaultId: string): Promise<number> {
    const keys = [this.recordKey(partition, vaultId), this.keys.epoch(partition)];
    return Number(await runScript(this.redis, 'vault_put', keys, [fence, version, ...f]).catch(scriptError));
  }

  private async indexAddresses(r: NewVault): Promise<void> {
    const value = `${r.account}|${r.vaultId}`;
    // Two SETs, not MSET: the two keys hash to different cluster slots.
    await Promise.all([this.redis.set(this.addressKey(r.addresses.eth), value), this.redis.set(this.addressKey(r.addresses.fil), value)]);
  }
}
