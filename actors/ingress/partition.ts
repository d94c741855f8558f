// Partition of a key: FNV-1a (32-bit) over the UTF-8 bytes, mod P. Producers and nodes must agree on
// it and on P; FNV-1a is stable across platforms and versions, unlike any built-in hash.
const enc = new TextEncoder();

export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  // ASCII (ids, addresses, vault ids) hashes without encoding; the result is the same as over UTF-8.
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) {
      ascii = false;
      break;
    }
    h ^= c;
    h = Math.imul(h, 0x01000193);
  }
  if (ascii) return h >>> 0;
  h = 0x811c9dc5;
  const bytes = enc.encode(s);
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function partitionOf(key: string, partitions: number): number {
  return fnv1a(key) % partitions;
}

export const DEFAULT_PARTITIONS = 64;
