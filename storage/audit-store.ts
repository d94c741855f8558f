// The audit log in Redis: one stream per account, `<p>:audit:{<account>}` (the account is the hash tag,
// so each account's stream sits in one Redis Cluster slot and its compare-and-append is one script),
// and a set of the accounts that have one, `<p>:audit:accounts` (another slot: written apart).
import type { Redis } from 'ioredis';
import type { StoredEntry } from '../actors/audit/entry.js';
import { runScript } from './scripts.js';

export class AuditKeys {
  constructor(readonly prefix: string = 'hway') {}
  stream(account: string): string {
    return `${this.prefix}:audit:{${account}}`;
  }
  accounts(): string {
    return `${this.prefix}:audit:accounts`;
  }
}

export type AppendResult = { ok: true } | { ok: false; last: { h: string; e: string } };

export class AuditStore {
  readonly keys: AuditKeys;
  constructor(
    private readonly redis: Redis,
    prefix = 'hway',
  ) {
    this.keys = new AuditKeys(prefix);
  }

  /** Appends if the stream still ends with `prevHash`; else reports its real last entry. */
  async append(account: string, prevHash: string, entries: Array<Omit<StoredEntry, 'id'>>, minId: number): Promise<AppendResult> {
    const args: Array<string | number> = [prevHash, minId > 0 ? String(minId) : '0'];
    for (const x of entries) args.push(x.e, x.h, x.m);
    const r = (await runScript(this.redis, 'audit_append', [this.keys.stream(account)], args)) as [number, string?, string?];
    if (r[0] === 1) return { ok: true };
    return { ok: false, last: { h: r[1] ?? '', e: r[2] ?? '' } };
  }

  async noteAccount(account: string): Promise<void> {
    await this.redis.sadd(this.keys.accounts(), account);
  }

  async accounts(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.accounts())).sort();
  }

  /** An account's entries from `sinceMs` on, oldest first, read in pages. */
  async read(account: string, sinceMs = 0, page = 1000): Promise<StoredEntry[]> {
    const out: StoredEntry[] = [];
    let start = sinceMs > 0 ? String(sinceMs) : '-';
    for (;;) {
      const rows = (await this.redis.xrange(this.keys.stream(account), start, '+', 'COUNT', page)) as Array<[string, string[]]>;
      for (const [id, f] of rows) {
        const rec: Record<string, string> = {};
        for (let i = 0; i < f.length; i += 2) rec[f[i]!] = f[i + 1]!;
        out.push({ id, e: rec.e ?? '', h: rec.h ?? '', m: rec.m ?? '' });
      }
      if (rows.length < page) return out;
      start = `(${rows[rows.length - 1]![0]}`;
    }
  }
}
