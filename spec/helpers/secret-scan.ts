// Searching bytes for secrets in every encoding they could have been written in: raw, hex (lower and
// upper case), base64 and base64url. Base64 text depends on where the secret starts relative to the
// 3-byte groups of the data around it, so each base64 form is searched at all three alignments, as the
// run of characters that only the secret's own bits decide (what any base64 of data containing the
// secret must contain, whatever comes before or after it).

export type SecretEncoding = 'raw' | 'hex' | 'HEX' | 'base64' | 'base64url';

export interface Secret {
  /** What it is, for messages ("export password", "wallet private key"). */
  name: string;
  bytes: Uint8Array;
}

export interface Haystack {
  /** Where the bytes came from ("key hwt:{3}:t:abc field auth", "AOF appendonly.aof.1.incr.aof"). */
  source: string;
  bytes: Uint8Array;
}

export interface SecretHit {
  secret: string;
  encoding: SecretEncoding;
  source: string;
  offset: number;
  /** Up to 100 bytes just before the hit (not the secret itself), to tell which command or field holds it. */
  before: string;
}

/** Shorter secrets would make too short base64 patterns (chance matches). */
export const MIN_SECRET_BYTES = 12;

export function secretOf(name: string, value: string | Uint8Array): Secret {
  return { name, bytes: typeof value === 'string' ? new TextEncoder().encode(value) : value };
}

/** The byte patterns that betray `secret` in any of the encodings. */
export function patternsOf(secret: Uint8Array): Array<{ encoding: SecretEncoding; pattern: Buffer }> {
  if (secret.length < MIN_SECRET_BYTES) throw new Error(`a secret to search for must be at least ${MIN_SECRET_BYTES} bytes (got ${secret.length})`);
  const s = Buffer.from(secret);
  const out: Array<{ encoding: SecretEncoding; pattern: Buffer }> = [
    { encoding: 'raw', pattern: s },
    { encoding: 'hex', pattern: Buffer.from(s.toString('hex'), 'latin1') },
    { encoding: 'HEX', pattern: Buffer.from(s.toString('hex').toUpperCase(), 'latin1') },
  ];
  for (const encoding of ['base64', 'base64url'] as const) {
    for (let k = 0; k < 3; k++) {
      // k bytes of unknown data before the secret: characters [ceil(8k/6), floor(8(k+n)/6)) hold only its bits.
      const text = Buffer.concat([Buffer.alloc(k), s]).toString(encoding);
      out.push({ encoding, pattern: Buffer.from(text.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + s.length)) / 6)), 'latin1') });
    }
  }
  return out;
}

/** Every place where any of `secrets` occurs in any of `haystacks`, in any encoding. */
export function findSecrets(haystacks: Haystack[], secrets: Secret[]): SecretHit[] {
  const hits: SecretHit[] = [];
  for (const secret of secrets) {
    const patterns = patternsOf(secret.bytes);
    for (const h of haystacks) {
      const bytes = Buffer.from(h.bytes.buffer, h.bytes.byteOffset, h.bytes.byteLength);
      for (const { encoding, pattern } of patterns) {
        for (let at = bytes.indexOf(pattern); at >= 0; at = bytes.indexOf(pattern, at + 1)) {
          hits.push({ secret: secret.name, encoding, source: h.source, offset: at, before: printable(bytes.subarray(Math.max(0, at - 100), at)) });
        }
      }
    }
  }
  return hits;
}

const printable = (b: Uint8Array): string => Array.from(b, (c) => (c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');

/** Readable lines for a failure message (one per hit, deduplicated), with what precedes each hit. */
export function describeHits(hits: SecretHit[]): string[] {
  return [...new Set(hits.map((x) => `${x.secret} (${x.encoding}) in ${x.source} at byte ${x.offset}, after "${x.before}"`))];
}
