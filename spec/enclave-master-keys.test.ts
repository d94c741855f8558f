// Master keys travel as bytes: parsed into bytes without a string, written once into shared memory as
// the `set_master_keys` frame, handed to each plugin instance by that call (no Extism config, which the
// plugin does not even import), zeroed when the pool closes; the host cannot swap an instance's keys.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import type { Enclave, VaultEnclave } from '../enclaves/enclave.js';
import { decodeOutput, encodeFrame, readU32le } from '../enclaves/frame.js';
import { masterKeyFrame, MAX_MASTER_KEYS, parseMasterKeys, ring, SET_MASTER_KEYS, wipeMasterKeys } from '../enclaves/master-keys.js';
import { EnclavePool } from '../enclaves/pool.js';
import { loadPlugin, pinnedPlugin } from '../enclaves/wasm.js';
import { bind, hex, masterKey, openEnclave, TEST_ACCOUNT, testRing } from './helpers/enclave.js';
import { openOnHost } from './helpers/oracle.js';

describe('parsing', () => {
  const k1 = randomBytes(32).toString('hex');
  const k2 = randomBytes(32).toString('hex');

  test('bytes and text give the same ring; a bare key is id 1; the highest id is current', () => {
    const text = ` 7:${k1},\n 9:${k2.toUpperCase()}\n`;
    for (const r of [parseMasterKeys(text), parseMasterKeys(Buffer.from(text))]) {
      expect(r.currentId).toBe(9);
      expect(r.keys.map((k) => [k.id, hex(k.key)])).toEqual([[7, k1], [9, k2]]);
      expect(r.keys.every((k) => k.key instanceof Uint8Array)).toBe(true);
    }
    expect(parseMasterKeys(k1).keys.map((k) => k.id)).toEqual([1]);
    expect(parseMasterKeys(`1:${k1} 2:${k2}`, 1).currentId).toBe(1);
  });

  test.each([
    ['', 'no master key given'],
    [`1:${k1.slice(2)}`, '64 hex digits'],
    [`1:${k1.slice(2)}zz`, '64 hex digits'],
    [`:${k1}`, '64 hex digits'],
    [`12345678901:${k1}`, '64 hex digits'],
    [`0:${k1}`, '1 to 4294967295'],
    [`4294967296:${k1}`, '1 to 4294967295'],
    [`1:${k1},1:${k2}`, 'appears twice'],
    [`1:${k1}é`, '64 hex digits'],
  ])('%j is refused (E_BAD_INPUT)', (text, message) => {
    for (const input of [text, Buffer.from(text)]) {
      expect(() => parseMasterKeys(input)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT', message: expect.stringContaining(message) }));
    }
  });

  test('a ring has 1 to 64 keys with distinct ids; wipeMasterKeys zeroes them', () => {
    const keys = Array.from({ length: MAX_MASTER_KEYS + 1 }, (_, i) => ({ id: i + 1, key: Uint8Array.from(randomBytes(32)) }));
    expect(() => ring(keys)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
    const r = ring(keys.slice(0, MAX_MASTER_KEYS));
    wipeMasterKeys(r);
    expect(r.keys.every((k) => k.key.every((b) => b === 0))).toBe(true);
  });
});

describe('the set_master_keys frame', () => {
  test('layout: frame v1, two fields: current id (u32 LE), ring of id (u32 LE) ‖ key; in shared memory', () => {
    const a = masterKey(3);
    const b = masterKey(0x01020304);
    const frame = masterKeyFrame(ring([a, b], 3));
    expect(frame).toBeInstanceOf(SharedArrayBuffer);
    const bytes = new Uint8Array(frame);
    expect(hex(bytes)).toBe(['0102', '0400', '03000000', '4800', '03000000', hex(a.key), '04030201', hex(b.key)].join(''));
  });

  test('the plugins take no Extism config (no config_get); they import only input/output memory and random_get', async () => {
    // What README.md ("What the enclave protects against") promises: no files, clock, network or
    // environment, no host config or variables; WASI's random_get is the one system interface.
    const allowed = ['input_length', 'input_load_u8', 'input_load_u64', 'alloc', 'free', 'length', 'load_u8', 'load_u64', 'store_u8', 'store_u64', 'output_set']
      .map((f) => `extism:host/env.${f}`)
      .concat('wasi_snapshot_preview1.random_get');
    for (const name of ['vault.wasm', 'vault-test.wasm'] as const) {
      const module = await loadPlugin(pinnedPlugin(name));
      const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`);
      expect(imports).not.toContain('extism:host/env.config_get');
      expect(imports.filter((i) => !allowed.includes(i))).toEqual([]);
      expect(WebAssembly.Module.exports(module).map((e) => e.name)).toContain(SET_MASTER_KEYS);
    }
  });

  test('every instance gets the keys; the pool zeroes its shared copy when it closes', async () => {
    const k = masterKey(5);
    const frame = masterKeyFrame(testRing(k));
    const pool = new EnclavePool({ module: await loadPlugin(pinnedPlugin('vault.wasm')), masterKeys: frame, workers: 2, kdfWorkers: 1, timeoutMs: 60_000, maxBatch: 8 });
    try {
      const insts = [pool.newInstance(), pool.newInstance(), pool.newInstance()];
      for (const inst of insts) {
        const [sealed] = decodeOutput(await pool.call(inst, 'generate', encodeFrame([Buffer.from(`v${inst}`), Buffer.from(TEST_ACCOUNT)])));
        expect(readU32le(sealed!.subarray(1, 5))).toBe(5);
        expect(openOnHost(sealed!, bind(`v${inst}`), k.key)).not.toBeNull();
      }
      const [, , current] = decodeOutput(await pool.callShared('info', encodeFrame([])));
      expect(readU32le(current!)).toBe(5);
      expect(new Uint8Array(frame).some((x) => x !== 0)).toBe(true);
    } finally {
      await pool.close();
    }
    expect(new Uint8Array(frame).every((x) => x === 0)).toBe(true);
  });
});

describe('through an enclave', () => {
  const k1 = masterKey(1);
  let enclave: Enclave;
  let vault: VaultEnclave;

  beforeAll(async () => {
    enclave = await openEnclave({ masterKeys: testRing(k1) });
    vault = await enclave.vault();
  });
  afterAll(async () => {
    await vault?.close();
    await enclave?.close();
  });

  test('the caller may wipe its ring once the enclave is open', async () => {
    const k = masterKey(2);
    const r = testRing({ id: k.id, key: Uint8Array.from(k.key) });
    const e = await openEnclave({ masterKeys: r, workers: 1 });
    try {
      wipeMasterKeys(r);
      const v = await e.vault(); // a new instance, created after the wipe
      const g = await v.generate(bind('after-wipe'));
      expect(openOnHost(g.sealed, bind('after-wipe'), k.key)).not.toBeNull();
      await v.close();
    } finally {
      await e.close();
    }
  });

  test('the host cannot call set_master_keys: not on a vault instance, not on a shared one; the keys stay', async () => {
    const other = masterKey(1);
    const frame = new Uint8Array(masterKeyFrame(testRing(other)));
    const fields = decodeFrameFields(frame);
    await expect(vault.call(SET_MASTER_KEYS, fields)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    await expect(vault.callFrame(SET_MASTER_KEYS, frame)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    await expect(enclave.raw(SET_MASTER_KEYS, fields)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    const g = await vault.generate(bind('still-mine'));
    expect(openOnHost(g.sealed, bind('still-mine'), k1.key)).not.toBeNull();
    expect(openOnHost(g.sealed, bind('still-mine'), other.key)).toBeNull();
    const digest = createHash('sha256').update('x').digest();
    const s = await vault.sign(g.sealed, bind('still-mine'), digest);
    expect(await enclave.verify(g.publicKey, digest, s.signature)).toBe(true);
  });
});

/** The two fields of a set_master_keys frame (version, count, then u16-length fields). */
function decodeFrameFields(frame: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 2;
  for (let i = 0; i < frame[1]!; i++) {
    const len = frame[at]! | (frame[at + 1]! << 8);
    out.push(frame.slice(at + 2, at + 2 + len));
    at += 2 + len;
  }
  return out;
}
