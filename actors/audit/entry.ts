// Audit entries and their chain (issue 12, "Audit log"). One entry per vault operation and per gateway
// sign: who (account, token id), what (operation, vault id or address, the digest — never a message),
// the outcome, where (node, task id) and when. Each entry names the hash of the one before it in its
// account's stream, and carries a MAC under a key derived from the token secret (auditKey): deleting,
// editing or reordering entries breaks a link or a MAC, and someone with Redis alone cannot mend
// either. What a chain cannot show on its own is the loss of its newest entries (see README).
import { createHash } from 'node:crypto';
import { equalB64, hmac } from '../credential.js';

const LABEL_KEY = 'hway/audit-key/v1';
const LABEL_MAC = 'hway/audit/v1';

/** What the operation was; filled in by the node. */
export interface AuditFields {
  /** ms since the epoch. */
  ts: number;
  node: string;
  account: string;
  /** The token's id ('' when the node runs without auth). */
  jti: string;
  /** e.g. vault:sign, vault:export, wallet:sign. */
  op: string;
  /** Vault id or signer address ('' when none, e.g. vault:verify). */
  target: string;
  /** Hex of the digest signed or verified ('' for other operations). */
  digest: string;
  /** 'ok' or the error code. */
  outcome: string;
  /** Task id, or the gateway request's id. */
  task: string;
}

/** An entry as stored: its fields, its place in the chain, its hash and its MAC. */
export interface AuditEntry extends AuditFields {
  seq: number;
  /** Hash of the entry before it ('' for the first of the account). */
  prev: string;
  /** Key id of the secret whose audit key made the MAC. */
  kid: string;
}

export interface StoredEntry {
  /** Stream id. */
  id: string;
  /** The entry's JSON exactly as stored (what its hash covers). */
  e: string;
  h: string;
  m: string;
}

/** The audit MAC key of a token secret. */
export function auditKey(secret: Uint8Array): Uint8Array {
  return hmac(secret, LABEL_KEY);
}

/** JSON with a fixed member order: the bytes the hash covers do not depend on how the object was built. */
export function encodeEntry(a: AuditEntry): string {
  const { seq, prev, ts, node, account, jti, op, target, digest, outcome, task, kid } = a;
  return JSON.stringify({ v: 1, seq, prev, ts, node, account, jti, op, target, digest, outcome, task, kid });
}

export function hashOf(e: string): string {
  return createHash('sha256').update(e).digest('hex');
}

export function macOf(key: Uint8Array, h: string): string {
  return hmac(key, LABEL_MAC, h).toString('base64url');
}

/** Builds the stored form of the entries that follow `head` (the account's last hash and seq). */
export function chain(head: { h: string; seq: number }, items: AuditFields[], key: Uint8Array, kid: string): { stored: Array<Omit<StoredEntry, 'id'>>; head: { h: string; seq: number } } {
  let { h, seq } = head;
  const stored = items.map((f) => {
    const e = encodeEntry({ ...f, seq: ++seq, prev: h, kid });
    h = hashOf(e);
    return { e, h, m: macOf(key, h) };
  });
  return { stored, head: { h, seq } };
}

export type Broken = { index: number; id: string; reason: 'hash' | 'mac' | 'link' | 'sequence' | 'malformed' | 'unknown key'; message: string };

/**
 * Verifies a run of stored entries, oldest first. The first entry's link is not checked when
 * `trimmed` (retention dropped what came before it). Resolves the first broken link, or null.
 */
export function verifyChain(entries: StoredEntry[], keys: Map<string, Uint8Array>, trimmed = true): Broken | null {
  let prev: { h: string; seq: number } | undefined;
  for (let i = 0; i < entries.length; i++) {
    const s = entries[i]!;
    const at = (reason: Broken['reason'], message: string): Broken => ({ index: i, id: s.id, reason, message });
    let a: AuditEntry;
    try {
      a = JSON.parse(s.e) as AuditEntry;
    } catch {
      return at('malformed', 'the entry is not JSON');
    }
    if (hashOf(s.e) !== s.h) return at('hash', 'the entry does not match its hash (edited)');
    const key = keys.get(a.kid);
    if (key === undefined) return at('unknown key', `no audit key for key id ${String(a.kid)}`);
    if (!equalB64(Buffer.from(macOf(key, s.h), 'base64url'), s.m)) return at('mac', 'the MAC does not verify (rewritten without the key)');
    if (prev !== undefined) {
      if (a.prev !== prev.h) return at('link', 'the entry does not follow the one before it (one deleted, inserted or moved)');
      if (a.seq !== prev.seq + 1) return at('sequence', `sequence ${a.seq} after ${prev.seq}`);
    } else if (!trimmed && (a.prev !== '' || a.seq !== 1)) {
      return at('link', 'the first entry is not the start of the chain');
    }
    prev = { h: s.h, seq: a.seq };
  }
  return null;
}
