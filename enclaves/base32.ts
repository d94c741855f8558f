// RFC 4648 base32 (alphabet a–z2–7), lowercase, without padding: the encoding of Filecoin addresses.
// Written here rather than pulled in, because it is 40 lines and the decoder must be strict:
// a string decodes only if re-encoding the result gives that same string back, so no two
// spellings (stray trailing bits, impossible lengths, other cases) ever name one payload.

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

const DECODE: Int8Array = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) t[ALPHABET.charCodeAt(i)] = i;
  return t;
})();

export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0; // at most 12 live bits, so a number is plenty
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** Decodes lowercase unpadded base32; returns undefined for anything that is not a canonical encoding. */
export function base32Decode(s: string): Uint8Array | undefined {
  // Lengths whose last character would carry no full byte (1, 3, 6 mod 8) cannot come from an encoder.
  const rem = s.length % 8;
  if (rem === 1 || rem === 3 || rem === 6) return undefined;
  const out = new Uint8Array(Math.floor((s.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? DECODE[c]! : -1;
    if (v < 0) return undefined;
    buffer = (buffer << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (buffer >>> bits) & 0xff;
    }
    buffer &= (1 << bits) - 1;
  }
  // The leftover bits are padding and must be zero, or two strings would decode to the same bytes.
  if (buffer !== 0) return undefined;
  return out;
}
