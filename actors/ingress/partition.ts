// Partition of a key: FNV-1a (32-bit) over the UTF-8 bytes, mod P. Producers and nodes must agree on
// it and on P; FNV-1a is stable across platforms and versions, unlike any built-in hash.
const enc = new TextEncoder();

export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
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
