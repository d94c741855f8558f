// node:crypto as an independent oracle for the primitives the enclave implements itself, and for the
// enclave's sealed-data and envelope formats (enclaves/vault/ABI.md). XChaCha20 is not in node:crypto,
// but HChaCha20 falls out of its raw ChaCha20 keystream: block = rounds(state) + state, and the state
// is known, so subtracting it leaves rounds(state), whose words 0–3 and 12–15 are HChaCha20.
import { argon2id } from '@noble/hashes/argon2.js';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scryptSync } from 'node:crypto';

const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];

export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20', key, nonce16);
  const block = c.update(Buffer.alloc(64));
  const state = new Uint32Array(16);
  state.set(SIGMA, 0);
  const kv = new DataView(key.buffer, key.byteOffset, 32);
  for (let i = 0; i < 8; i++) state[4 + i] = kv.getUint32(i * 4, true);
  const nv = new DataView(nonce16.buffer, nonce16.byteOffset, 16);
  for (let i = 0; i < 4; i++) state[12 + i] = nv.getUint32(i * 4, true);
  const out = Buffer.alloc(32);
  const words = [0, 1, 2, 3, 12, 13, 14, 15];
  words.forEach((w, i) => out.writeUInt32LE((block.readUInt32LE(w * 4) - state[w]!) >>> 0, i * 4));
  return out;
}

export function chachaPolySeal(key: Uint8Array, nonce12: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, nonce12, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: pt.length });
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
}

export function chachaPolyOpen(key: Uint8Array, nonce12: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array | null {
  try {
    const d = createDecipheriv('chacha20-poly1305', key, nonce12, { authTagLength: 16 });
    d.setAAD(aad, { plaintextLength: ct.length - 16 });
    d.setAuthTag(ct.subarray(ct.length - 16));
    return Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
  } catch {
    return null;
  }
}

function xnonce(key: Uint8Array, nonce24: Uint8Array): [Uint8Array, Uint8Array] {
  const sub = hchacha20(key, nonce24.subarray(0, 16));
  const n12 = Buffer.concat([Buffer.alloc(4), nonce24.subarray(16, 24)]);
  return [sub, n12];
}

export function xchachaPolySeal(key: Uint8Array, nonce24: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
  const [sub, n12] = xnonce(key, nonce24);
  return chachaPolySeal(sub, n12, aad, pt);
}

export function xchachaPolyOpen(key: Uint8Array, nonce24: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array | null {
  const [sub, n12] = xnonce(key, nonce24);
  return chachaPolyOpen(sub, n12, aad, ct);
}

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, len: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, len));
}

export function hmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return createHmac('sha256', key).update(msg).digest();
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

const u16 = (n: number): Buffer => Buffer.of(n & 0xff, n >>> 8);

function vaultKey(masterKey: Uint8Array, vaultId: string): Uint8Array {
  return hkdf(masterKey, Buffer.from(vaultId, 'utf8'), Buffer.from('hway/vault/v1'), 32);
}

/** A v2 seal's account check (ABI.md, Sealed vault data v2). */
export function accountCheckOnHost(masterKey: Uint8Array, account: string): Uint8Array {
  return hkdf(masterKey, new Uint8Array(0), Buffer.concat([Buffer.from('hway/vault/account/v2'), Buffer.from(account, 'utf8')]), 16);
}

/** Associated data of a v2 seal: header (25) ‖ vault id length (u16 LE) ‖ vault id ‖ account. */
function aadV2(header: Uint8Array, b: { vaultId: string; account: string }): Buffer {
  const id = Buffer.from(b.vaultId, 'utf8');
  return Buffer.concat([header, u16(id.length), id, Buffer.from(b.account, 'utf8')]);
}

/** Seals a known private key exactly as the enclave does (ABI.md, Sealed vault data v2). */
export function sealOnHost(privateKey: Uint8Array, b: { vaultId: string; account: string }, masterKey: Uint8Array, keyId: number, epoch = 0): Uint8Array {
  const header = Buffer.concat([Buffer.of(2), u32(keyId), u32(epoch), accountCheckOnHost(masterKey, b.account)]);
  const nonce = randomBytes(24);
  return Uint8Array.from(Buffer.concat([header, nonce, xchachaPolySeal(vaultKey(masterKey, b.vaultId), nonce, aadV2(header, b), privateKey)]));
}

/** Seals as nodes up to ABI 2 did (Sealed vault data v1: no account), for tests of old records. */
export function sealV1OnHost(privateKey: Uint8Array, vaultId: string, masterKey: Uint8Array, keyId: number, epoch = 0): Uint8Array {
  const header = Buffer.concat([Buffer.of(1), u32(keyId), u32(epoch)]);
  const nonce = randomBytes(24);
  return Uint8Array.from(Buffer.concat([header, nonce, xchachaPolySeal(vaultKey(masterKey, vaultId), nonce, Buffer.concat([header, Buffer.from(vaultId, 'utf8')]), privateKey)]));
}

/** Opens sealed data (v2, or v1 whatever the account) on the host with the master key (only tests ever do this). */
export function openOnHost(sealed: Uint8Array, b: { vaultId: string; account: string }, masterKey: Uint8Array): Uint8Array | null {
  const key = vaultKey(masterKey, b.vaultId);
  if (sealed[0] === 1 && sealed.length === 81) {
    return xchachaPolyOpen(key, sealed.subarray(9, 33), Buffer.concat([sealed.subarray(0, 9), Buffer.from(b.vaultId, 'utf8')]), sealed.subarray(33));
  }
  if (sealed[0] !== 2 || sealed.length !== 97) return null;
  return xchachaPolyOpen(key, sealed.subarray(25, 49), aadV2(sealed.subarray(0, 25), b), sealed.subarray(49));
}

/** Builds an export envelope as the enclave does (ABI.md, Export envelope), small N allowed. */
export function envelopeOnHost(privateKey: Uint8Array, password: string, logN = 15, r = 8): Uint8Array {
  const salt = randomBytes(16);
  const km = scryptSync(Buffer.from(password, 'utf8'), salt, 64, { N: 2 ** logN, r, p: 1, maxmem: 256 * 1024 * 1024 });
  const check = hmac(km.subarray(32), Buffer.from('hway/export/check/v1')).subarray(0, 16);
  const nonce = randomBytes(24);
  const header = Buffer.concat([Buffer.of(1, 1, logN, r, 1), salt, nonce, check]);
  return Buffer.concat([header, xchachaPolySeal(km.subarray(0, 32), nonce, header, privateKey)]);
}

/**
 * Builds a v2 export envelope as ABI.md describes it (Export envelope v2), with @noble/hashes' Argon2id:
 * small parameters only (m in KiB; import accepts any within its bounds). `aad` replaces the associated
 * data, to build envelopes that must fail authentication.
 */
export function envelopeV2OnHost(
  privateKey: Uint8Array,
  password: string,
  vaultId: string,
  o: { m?: number; t?: number; aad?: (header: Uint8Array) => Uint8Array } = {},
): Uint8Array {
  const m = o.m ?? 32;
  const t = o.t ?? 1;
  const vid = Buffer.from(vaultId, 'utf8');
  const salt = randomBytes(16);
  const nonce = randomBytes(24);
  const km = argon2id(Buffer.from(password, 'utf8'), salt, { t, m, p: 1, dkLen: 64 });
  const check = hmac(km.subarray(32), Buffer.from('hway/export/check/v2')).subarray(0, 16);
  const header = Buffer.concat([Buffer.of(2, 2), u32(m), u32(t), Buffer.of(1), salt, nonce, check, Buffer.of(vid.length & 0xff, vid.length >>> 8), vid]);
  return Uint8Array.from(Buffer.concat([header, xchachaPolySeal(km.subarray(0, 32), nonce, o.aad ? o.aad(header) : header, privateKey)]));
}

/** Opens an enclave export on the host (tests only), to prove what it holds. */
export function openEnvelopeOnHost(envelope: Uint8Array, password: string): Uint8Array | null {
  const [logN, r, p] = [envelope[2]!, envelope[3]!, envelope[4]!];
  const salt = envelope.subarray(5, 21);
  const km = scryptSync(Buffer.from(password, 'utf8'), salt, 64, { N: 2 ** logN, r, p, maxmem: 256 * 1024 * 1024 });
  return xchachaPolyOpen(km.subarray(0, 32), envelope.subarray(21, 45), envelope.subarray(0, 61), envelope.subarray(61));
}
