// The audit entry of a gateway sign: who asked, for which address, which digest (the message itself
// never: for a scheme the gateway knows, the digest the wallet signs; otherwise sha256 of the bytes).
import { createHash } from 'node:crypto';
import { knownDigest } from '../gateway/signatures.js';
import type { JsonValue } from '../gateway/frames.js';
import type { AuditFields } from './entry.js';

export function gatewaySignEntry(req: { id: string; args: Record<string, JsonValue> }, claims: { account: string; jti: string }, outcome: string): Omit<AuditFields, 'ts' | 'node'> {
  const { address, bytes, meta } = req.args;
  let digest = '';
  if (typeof bytes === 'string' && /^(?:[0-9a-f]{2})*$/.test(bytes)) {
    const raw = Buffer.from(bytes, 'hex');
    const type = typeof meta === 'object' && meta !== null && !Array.isArray(meta) && typeof meta.type === 'string' ? meta.type : '';
    let d: Uint8Array | undefined;
    try {
      d = knownDigest(raw, type, typeof meta === 'object' && meta !== null && !Array.isArray(meta) ? meta.extra : undefined) ?? undefined;
    } catch {
      d = undefined;
    }
    digest = Buffer.from(d ?? createHash('sha256').update(raw).digest()).toString('hex');
  }
  return { account: claims.account, jti: claims.jti, op: 'wallet:sign', target: typeof address === 'string' ? address : '', digest, outcome, task: req.id };
}
