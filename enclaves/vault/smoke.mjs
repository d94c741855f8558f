// Developer smoke test of the vault enclave (not the jest suite).
// Run from the repository root after `bash enclaves/vault/build.sh`:
//   node --disable-warning=ExperimentalWarning enclaves/vault/smoke.mjs
import createPlugin from '@extism/extism';
import { readFileSync } from 'node:fs';
import { createHash, scryptSync, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { secp256k1 as noble } from '@noble/curves/secp256k1.js';

const require = createRequire(import.meta.url);
const secpNpm = require('secp256k1');
const WP = '/work/shared/testvectors/wycheproof';

let failures = 0;
const ok = (cond, msg) => { if (!cond) { failures++; console.log('FAIL', msg); } };
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const u16 = (n) => Uint8Array.of(n & 0xff, n >> 8);
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return new Uint8Array(b); };
const utf8 = (s) => new TextEncoder().encode(s);

function frame(fields) {
  const parts = [Uint8Array.of(1, fields.length)];
  for (const f of fields) { parts.push(u16(f.length)); parts.push(f); }
  return Buffer.concat(parts);
}
function unframe(out) {
  const b = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  if (b[0] !== 1) throw new Error('bad output version');
  const status = b[1], n = b[2], fields = [];
  let p = 3;
  for (let i = 0; i < n; i++) { const l = b[p] | (b[p + 1] << 8); fields.push(b.slice(p + 2, p + 2 + l)); p += 2 + l; }
  if (p !== b.length) throw new Error('trailing output bytes');
  return { status, fields };
}

const K1 = randomBytes(32), K2 = randomBytes(32);
// The master keys go in through set_master_keys (ABI.md, "Master keys"): current id, ring of id ‖ key.
const ring = (cur, ...keys) => [u32(cur), Buffer.concat(keys.map(([id, k]) => Buffer.concat([u32(id), k])))];
async function load(file, keys) {
  const p = await createPlugin({ wasm: [{ data: readFileSync(file) }] }, { useWasi: true });
  if (keys !== undefined) p.keyStatus = unframe(await p.call('set_master_keys', frame(keys))).status;
  return p;
}
async function call(p, fn, fields) {
  const out = await p.call(fn, frame(fields));
  return unframe(out);
}

const prod = await load('enclaves/vault.wasm', ring(1, [1, K1]));
const both = await load('enclaves/vault.wasm', ring(2, [1, K1], [2, K2]));
const only2 = await load('enclaves/vault.wasm', ring(2, [2, K2]));
const none = await load('enclaves/vault.wasm');
const bad = await load('enclaves/vault.wasm', ring(1, [1, K1], [1, K2])); // duplicate id
const test = await load('enclaves/vault-test.wasm');
ok(prod.keyStatus === 0 && both.keyStatus === 0 && only2.keyStatus === 0, 'set_master_keys');
ok(bad.keyStatus === 6, 'set_master_keys malformed ring -> E_CONFIG');
ok(unframe(await prod.call('set_master_keys', frame(ring(2, [2, K2])))).status === 6, 'set_master_keys twice -> E_CONFIG');

// info
let r = await call(prod, 'info', []);
ok(r.status === 0 && Buffer.from(r.fields[0]).toString() === 'hway-vault' && r.fields[1][0] === 3 && hex(r.fields[2]) === '01000000', 'info');
r = await call(none, 'info', []);
ok(r.status === 0 && r.fields[2].length === 0, 'info unconfigured');
ok((await call(none, 'generate', [utf8('v'), utf8('acct')])).status === 6, 'generate unconfigured -> E_CONFIG');
ok((await call(bad, 'generate', [utf8('v'), utf8('acct')])).status === 6, 'generate after a malformed ring -> E_CONFIG');

// generate / sign / verify
// Sealed data v2 (ABI 3) binds the vault id and the account (ABI.md, "Sealed vault data v2").
const vid = utf8('vault-1');
const acct = utf8('alice');
r = await call(prod, 'generate', [vid, acct]);
ok(r.status === 0 && r.fields[0].length === 97 && r.fields[0][0] === 2 && r.fields[1].length === 33, 'generate');
const [sealed, pub] = r.fields;
const digest = createHash('sha256').update('hello').digest();
r = await call(prod, 'sign', [sealed, vid, acct, digest]);
ok(r.status === 0 && r.fields[0].length === 64 && r.fields[1].length === 1, 'sign');
const [sig, rec] = r.fields;
ok(noble.verify(sig, digest, pub, { prehash: false, lowS: true, format: 'compact' }), 'noble verifies (low-S)');
ok(secpNpm.ecdsaVerify(sig, digest, pub), 'secp256k1 npm verifies');
ok(hex(secpNpm.ecdsaRecover(sig, rec[0], digest, true)) === hex(pub), 'recovery id recovers the key');
const r2 = await call(prod, 'sign', [sealed, vid, acct, digest]);
ok(hex(r2.fields[0]) === hex(sig), 'RFC 6979 deterministic');
r = await call(prod, 'verify', [pub, digest, sig, Uint8Array.of(0)]);
ok(r.status === 0 && r.fields[0][0] === 1, 'verify own signature');
r = await call(prod, 'verify', [pub, createHash('sha256').update('x').digest(), sig, Uint8Array.of(0)]);
ok(r.status === 0 && r.fields[0][0] === 0, 'verify wrong digest -> 0');
ok((await call(prod, 'verify', [pub, digest.subarray(0, 31), sig, Uint8Array.of(0)])).status === 1, 'verify short digest -> E_BAD_INPUT');
ok((await call(prod, 'sign', [sealed, utf8('vault-2'), acct, digest])).status === 2, 'sign other vault id -> E_CORRUPT');
ok((await call(prod, 'sign', [sealed, vid, utf8('bob'), digest])).status === 10, 'sign other account -> E_FORBIDDEN');
ok((await call(prod, 'check_seal', [sealed, vid, acct])).status === 0, 'check_seal');
ok((await call(prod, 'check_seal', [sealed, vid, utf8('bob')])).status === 10, 'check_seal other account -> E_FORBIDDEN');
const tampered = Uint8Array.from(sealed); tampered[40] ^= 1;
ok((await call(prod, 'sign', [tampered, vid, acct, digest])).status === 2, 'sign tampered -> E_CORRUPT');
ok((await call(only2, 'sign', [sealed, vid, acct, digest])).status === 4, 'sign retired key -> E_KEY_RETIRED');
ok((await call(prod, 'sign', [sealed, vid, acct, digest, digest])).status === 1, 'wrong field count -> E_BAD_INPUT');

// refresh under key 2
r = await call(both, 'refresh', [sealed, vid, acct]);
ok(r.status === 0 && hex(r.fields[1]) === hex(pub) && hex(r.fields[2]) === '01000000' && hex(r.fields[0].subarray(0, 9)) === '020200000001000000', 'refresh');
const sealed2 = r.fields[0];
ok((await call(only2, 'sign', [sealed2, vid, acct, digest])).status === 0, 'sign after refresh with only key 2');
ok((await call(only2, 'refresh', [sealed, vid, acct])).status === 4, 'refresh retired -> E_KEY_RETIRED');

// export / import (envelope v2: Argon2id m = 256 MiB, t = 3, p = 1) on the large-cap KDF plugin;
// a vault instance (64 MiB) cannot hold the work area (E_NO_MEMORY)
const prodKdf = await load('enclaves/vault-kdf.wasm', ring(1, [1, K1]));
const only2Kdf = await load('enclaves/vault-kdf.wasm', ring(2, [2, K2]));
const PW = utf8('correct horse battery');
let t0 = performance.now();
r = await call(prodKdf, 'export', [sealed, vid, acct, PW]);
const tExport = performance.now() - t0;
ok(r.status === 0, 'export status ' + r.status);
const env = r.fields[0];
console.log('envelope length', env.length, 'header', hex(env.subarray(0, 11)));
ok(env.length === 117 + vid.length && hex(env.subarray(0, 11)) === '0202000004000300000001', 'envelope v2 header');
t0 = performance.now();
r = await call(only2Kdf, 'import', [env, PW, utf8('vault-9'), acct]);
const tImport = performance.now() - t0;
ok(r.status === 0 && hex(r.fields[1]) === hex(pub) && hex(r.fields[0].subarray(0, 9)) === '020200000000000000', 'import round trip');
ok(r.status === 0 && Buffer.from(r.fields[2]).toString() === 'vault-1', 'import names the exporting vault');
ok((await call(only2, 'sign', [r.fields[0], utf8('vault-9'), acct, digest])).fields[0] !== undefined, 'sign imported');
ok((await call(prodKdf, 'import', [env, utf8('wrong password'), vid, acct])).status === 3, 'wrong password -> E_WRONG_PASSWORD');
const envT = Uint8Array.from(env); envT[envT.length - 20] ^= 1;
ok((await call(prodKdf, 'import', [envT, PW, vid, acct])).status === 2, 'tampered envelope -> E_CORRUPT');
const envV = Uint8Array.from(env); envV[69] ^= 1;
ok((await call(prodKdf, 'import', [envV, PW, vid, acct])).status === 2, 'another vault id -> E_CORRUPT');
const envM = Uint8Array.from(env); envM[5] = 1;
ok((await call(prodKdf, 'import', [envM, PW, vid, acct])).status === 2, 'm over 1 GiB -> E_CORRUPT');
const envTT = Uint8Array.from(env); envTT[6] = 11;
ok((await call(prodKdf, 'import', [envTT, PW, vid, acct])).status === 2, 't = 11 -> E_CORRUPT');
ok((await call(prod, 'export', [sealed, vid, acct, PW])).status === 8, 'export on a 64 MiB vault instance -> E_NO_MEMORY');
const tExports = [];
for (let i = 0; i < 3; i++) { t0 = performance.now(); await call(prodKdf, 'export', [sealed, vid, acct, PW]); tExports.push(Math.round(performance.now() - t0)); }
console.log('export (Argon2id m=256 MiB t=3 p=1) ms:', tExports.join(', '));
ok((await call(prodKdf, 'export', [sealed, vid, acct, utf8('eleven char')])).status === 1, 'password under 12 bytes -> E_BAD_INPUT');
ok((await call(prodKdf, 'export', [sealed, vid, acct, new Uint8Array(0)])).status === 1, 'empty password -> E_BAD_INPUT');

// sign timing
t0 = performance.now();
const NS = 300;
for (let i = 0; i < NS; i++) await call(prod, 'sign', [sealed, vid, acct, digest]);
const tSign = (performance.now() - t0) / NS;
t0 = performance.now();
for (let i = 0; i < NS; i++) await call(prod, 'verify', [pub, digest, sig, Uint8Array.of(0)]);
const tVerify = (performance.now() - t0) / NS;

// test exports: Wycheproof
const wp = (f) => JSON.parse(readFileSync(`${WP}/${f}`, 'utf8'));
let n = 0;
for (const [file, name, nlen] of [['chacha20_poly1305_test.json', 'chacha20poly1305', 12], ['xchacha20_poly1305_test.json', 'xchacha20poly1305', 24]]) {
  for (const g of wp(file).testGroups) for (const t of g.tests) {
    const key = unhex(t.key), iv = unhex(t.iv), aad = unhex(t.aad), msg = unhex(t.msg), ct = unhex(t.ct + t.tag);
    const s = await call(test, `t_${name}_seal`, [key, iv, aad, msg]);
    const o = await call(test, `t_${name}_open`, [key, iv, aad, ct]);
    if (iv.length !== nlen || key.length !== 32) { ok(s.status === 1 && o.status === 1, `${file} ${t.tcId} bad sizes`); continue; }
    if (t.result === 'valid') ok(s.status === 0 && hex(s.fields[0]) === hex(ct) && o.status === 0 && hex(o.fields[0]) === hex(msg), `${file} ${t.tcId}`);
    else ok(o.status === 2, `${file} ${t.tcId} invalid -> ${o.status}`);
    n++;
  }
}
for (const g of wp('hmac_sha256_test.json').testGroups) for (const t of g.tests) {
  const m = await call(test, 't_hmac_sha256', [unhex(t.key), unhex(t.msg)]);
  const eq = hex(m.fields[0]).startsWith(t.tag);
  ok(t.result === 'valid' ? eq : !eq, `hmac ${t.tcId}`); n++;
}
for (const g of wp('hkdf_sha256_test.json').testGroups) for (const t of g.tests) {
  const m = await call(test, 't_hkdf_sha256', [unhex(t.ikm), unhex(t.salt), unhex(t.info), u16(t.size)]);
  if (t.result === 'valid') ok(m.status === 0 && hex(m.fields[0]) === t.okm, `hkdf ${t.tcId}`);
  else ok(m.status === 1, `hkdf ${t.tcId} invalid`);
  n++;
}
for (const g of wp('pbkdf2_hmacsha256_test.json').testGroups) for (const t of g.tests) {
  const m = await call(test, 't_pbkdf2_sha256', [unhex(t.password), unhex(t.salt), u32(t.iterationCount), u16(t.dkLen)]);
  ok(m.status === 0 && hex(m.fields[0]) === t.dk, `pbkdf2 ${t.tcId}`); n++;
}
for (const [file, flags] of [['ecdsa_secp256k1_sha256_bitcoin_test.json', 2], ['ecdsa_secp256k1_sha256_p1363_test.json', 1]]) {
  for (const g of wp(file).testGroups) {
    const pk = unhex(g.publicKey.uncompressed);
    for (const t of g.tests) {
      const d = createHash('sha256').update(unhex(t.msg)).digest();
      const m = await call(prod, 'verify', [pk, d, unhex(t.sig), Uint8Array.of(flags)]);
      const v = m.status === 0 ? m.fields[0][0] : -1;
      if (t.result === 'valid') ok(v === 1, `${file} ${t.tcId} valid -> ${v}`);
      else if (t.result === 'invalid') ok(v === 0, `${file} ${t.tcId} invalid -> ${v}`);
      else ok(v === 0 || v === 1, `${file} ${t.tcId}`);
      n++;
    }
  }
}
// scrypt against node:crypto and RFC 7914
for (const [pw, salt, log2n, r_, p, len] of [['password', 'NaCl', 10, 8, 16, 64], ['', '', 4, 1, 1, 64], ['pleaseletmein', 'SodiumChloride', 14, 8, 1, 64], ['x', 'y', 3, 2, 3, 33]]) {
  const m = await call(test, 't_scrypt', [utf8(pw), utf8(salt), Uint8Array.of(log2n), Uint8Array.of(r_), Uint8Array.of(p), u16(len)]);
  const want = scryptSync(pw, salt, len, { N: 2 ** log2n, r: r_, p, maxmem: 256 * 1024 * 1024 });
  ok(m.status === 0 && hex(m.fields[0]) === hex(want), `scrypt ${log2n},${r_},${p}`); n++;
}
// Argon2id against RFC 9106, section 5.3 (p = 4 lanes, filled one after the other)
{
  const a = await call(test, 't_argon2id', [new Uint8Array(32).fill(1), new Uint8Array(16).fill(2), new Uint8Array(8).fill(3), new Uint8Array(12).fill(4), u32(3), u32(32), Uint8Array.of(4), u16(32)]);
  ok(a.status === 0 && hex(a.fields[0]) === '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659', 'argon2id RFC 9106'); n++;
}
const sh = await call(test, 't_sha256', [utf8('abc')]);
ok(hex(sh.fields[0]) === createHash('sha256').update('abc').digest('hex'), 'sha256');
const big = randomBytes(65535);
ok(hex((await call(test, 't_sha256', [big])).fields[0]) === createHash('sha256').update(big).digest('hex'), 'sha256 64 KiB');

// hostile frames never trap
let traps = 0;
for (let i = 0; i < 3000; i++) {
  const fns = ['info', 'generate', 'sign', 'verify', 'refresh', 'export', 'import', 'check_seal'];
  const fn = fns[i % fns.length];
  const junk = randomBytes(Math.floor(Math.random() * 200));
  if (i % 2) { junk[0] = 1; if (junk.length > 1) junk[1] = [0, 2, 4, 4, 3, 4, 4, 3][i % 8]; }
  try { const o = unframe(await prod.call(fn, junk)); ok(o.status !== 0 || fn === 'info' || fn === 'verify', `junk ${fn} status ${o.status}`); } catch (e) { traps++; }
}
ok(traps === 0, `junk frames trapped ${traps} times`);
try { await test.call('t_trap', frame([])); ok(false, 't_trap did not trap'); } catch { /* expected */ }

console.log(`vectors checked: ${n}`);
console.log(`sign ${tSign.toFixed(3)} ms, verify ${tVerify.toFixed(3)} ms (per call incl. host overhead), export ${tExport.toFixed(0)} ms, import ${tImport.toFixed(0)} ms`);
for (const f of ['enclaves/vault.wasm', 'enclaves/vault-kdf.wasm', 'enclaves/vault-test.wasm']) console.log(f, readFileSync(f).length, 'bytes');
for (const p of [prod, both, only2, none, bad, test, prodKdf, only2Kdf]) await p.close();
console.log(failures ? `${failures} FAILURES` : 'all smoke checks passed');
process.exit(failures ? 1 : 0);
