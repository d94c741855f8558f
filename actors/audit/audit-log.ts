// Appends audit entries for the node (actors/audit/entry.ts): per account, the entries of one moment
// go out together in one compare-and-append, chained to the account's last entry. When another node
// appended meanwhile, the script answers with the real last entry and the batch is chained again.
// Fail closed: append() rejects (E_AUDIT_UNAVAILABLE) when the entry could not be written, and the
// callers then withhold the operation's result (see actors/vault/tasks.ts and the gateway).
import { HwayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { AuditStore } from '../../storage/audit-store.js';
import { chain, type AuditEntry, type AuditFields } from './entry.js';

/** How many times a batch is chained again after losing a race before the append fails. */
const MAX_RACES = 20;

interface Pending {
  fields: AuditFields;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface AuditLogOptions {
  store: AuditStore;
  /** The audit MAC key (auditKey(token secret)) and its key id. */
  key: Uint8Array;
  kid: string;
  /** Entries older than this are trimmed as new ones are appended (ms). Default 365 days. */
  retentionMs?: number;
  log: Logger;
}

export class AuditLog {
  private readonly heads = new Map<string, { h: string; seq: number }>();
  private readonly queued = new Map<string, Pending[]>();
  private readonly busy = new Set<string>();
  private readonly known = new Set<string>();
  private readonly retentionMs: number;

  constructor(private readonly o: AuditLogOptions) {
    this.retentionMs = o.retentionMs ?? 365 * 86_400_000;
  }

  /** Resolves once the entry is in Redis; rejects E_AUDIT_UNAVAILABLE otherwise. */
  append(fields: AuditFields): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const list = this.queued.get(fields.account);
      if (list) list.push({ fields, resolve, reject });
      else this.queued.set(fields.account, [{ fields, resolve, reject }]);
      if (!this.busy.has(fields.account)) {
        this.busy.add(fields.account);
        setImmediate(() => void this.drain(fields.account));
      }
    });
  }

  /** One batch at a time per account, so that this node's own appends never race each other. */
  private async drain(account: string): Promise<void> {
    for (;;) {
      const batch = this.queued.get(account);
      this.queued.delete(account);
      if (!batch || batch.length === 0) break;
      try {
        await this.write(account, batch.map((p) => p.fields));
        for (const p of batch) p.resolve();
      } catch (e) {
        this.o.log.warn('audit entries could not be written: their operations are withheld', { account, entries: batch.length, error: e instanceof Error ? e.message : String(e) });
        const err = new HwayError('E_AUDIT_UNAVAILABLE', 'the audit log could not be written; the operation\'s result is withheld', { cause: e });
        for (const p of batch) p.reject(err);
      }
    }
    this.busy.delete(account);
  }

  private async write(account: string, items: AuditFields[]): Promise<void> {
    if (!this.known.has(account)) {
      await this.o.store.noteAccount(account);
      this.known.add(account);
    }
    let head = this.heads.get(account) ?? { h: '', seq: 0 };
    for (let race = 0; race < MAX_RACES; race++) {
      const { stored, head: next } = chain(head, items, this.o.key, this.o.kid);
      const r = await this.o.store.append(account, head.h, stored, Date.now() - this.retentionMs);
      if (r.ok) {
        this.heads.set(account, next);
        return;
      }
      head = { h: r.last.h, seq: seqOf(r.last.e) };
    }
    throw new Error(`lost ${MAX_RACES} races to append to the audit stream of ${account}`);
  }
}

function seqOf(e: string): number {
  try {
    const seq = (JSON.parse(e) as Partial<AuditEntry>).seq;
    return typeof seq === 'number' && Number.isInteger(seq) ? seq : 0;
  } catch {
    return 0;
  }
}
