// libsecp256k1's secret-dependent table lookup stays branch-free in the code we ship.
//
// The bundled libsecp256k1 predates upstream v0.3.1's "Fix 'constant-timeness' issue with Clang >= 14"
// (enclaves/vault/secp256k1-ct.patch, applied by build.sh): without it clang sees that a cmov's flag
// is 0 or 1 and replaces the mask arithmetic with a choice on the flag. Signing looks up the multiple
// of G for each 4-bit group of the (blinded) nonce with secp256k1_ge_storage_cmov(…, i == bits) over
// the whole table row; a `select` or branch on `i == bits` there is a choice on a secret.
//
// build.sh --ct-objects compiles libsecp256k1's object exactly as it goes into vault.wasm, unstripped,
// plus the same without the patch as a control; wasm-objdump (Debian package wabt, installed by .ci/run)
// disassembles both. Also here: the signing context's blinding is re-seeded at creation and every
// KEYS_RERANDOMIZE_EVERY uses (keys.c), seen through the test build's t_sign_context export.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Enclave, VaultEnclave } from '../enclaves/enclave.js';
import { readU32le } from '../enclaves/frame.js';
import { bind, hex, masterKey, openEnclave, testRing } from './helpers/enclave.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Instr {
  op: string;
  arg: string;
}

/** Function name → instructions, from `wasm-objdump -d` of a relocatable object (it keeps the names). */
function disassemble(object: string): Map<string, Instr[]> {
  let text: string;
  try {
    text = execFileSync('wasm-objdump', ['-d', object], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  } catch (err) {
    throw new Error(`wasm-objdump failed (install the Debian package wabt: apt-get install -y wabt): ${(err as Error).message}`);
  }
  const fns = new Map<string, Instr[]>();
  let body: Instr[] | null = null;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+ func\[\d+\] <([^>]+)>:$/.exec(line);
    if (head !== null) {
      body = [];
      fns.set(head[1]!, body);
      continue;
    }
    const ins = /^ [0-9a-f]+:[0-9a-f ]*\|\s*([a-z0-9_.]+)(?:\s+(.*))?$/.exec(line);
    if (ins !== null && body !== null && !ins[1]!.startsWith('local[')) body.push({ op: ins[1]!, arg: (ins[2] ?? '').trim() });
  }
  return fns;
}

const BRANCHES = new Set(['br', 'br_if', 'br_table', 'if']);
const count = (body: Instr[], ops: Set<string> | string): number => body.filter((i) => (typeof ops === 'string' ? i.op === ops : ops.has(i.op))).length;

/**
 * Why each `br_if` of `body` is harmless, or the reason it is not: every one must be the latch of the
 * loop it closes (`br_if 0` right before that loop's `end`), taken on `counter <cmp> constant`, where
 * the loop changes `counter` only by adding a constant to it. That is a loop over public bounds.
 */
function nonLatchBranches(body: Instr[]): string[] {
  const problems: string[] = [];
  const open: { op: string; at: number }[] = [];
  body.forEach((ins, k) => {
    if (ins.op === 'block' || ins.op === 'loop' || ins.op === 'if') open.push({ op: ins.op, at: k });
    else if (ins.op === 'end') open.pop();
    if (ins.op !== 'br_if') return;
    const where = `br_if #${k}`;
    const loop = open[open.length - 1];
    if (ins.arg !== '0' || loop?.op !== 'loop' || body[k + 1]?.op !== 'end') return void problems.push(`${where} is not a loop latch`);
    const [ref, bound, cmp] = [body[k - 3], body[k - 2], body[k - 1]];
    if (!/^i32\.(ne|lt_[su]|gt_[su]|le_[su]|ge_[su])$/.test(cmp?.op ?? '') || bound?.op !== 'i32.const' || !/^local\.(tee|get)$/.test(ref?.op ?? '')) {
      return void problems.push(`${where} is not taken on a counter compared with a constant`);
    }
    const counter = ref!.arg;
    for (let j = loop.at + 1; j < k; j++) {
      const w = body[j]!;
      if (!(w.op === 'local.set' || w.op === 'local.tee') || w.arg !== counter) continue;
      const step = body[j - 1]?.op === 'i32.add' && body[j - 2]?.op === 'i32.const' && body[j - 3]?.op === 'local.get' && body[j - 3]?.arg === counter;
      if (!step) problems.push(`${where}: local ${counter} is not a counter (written at #${j} other than by adding a constant)`);
    }
  });
  return problems;
}

let patched: Map<string, Instr[]>;
let unpatched: Map<string, Instr[]>;
let dir: string;

function fn(objects: Map<string, Instr[]>, name: string): Instr[] {
  const body = objects.get(name);
  if (body === undefined) throw new Error(`${name} is not a function of the object (inlined or renamed?): the checks below would see nothing`);
  return body;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hway-ct-'));
  execFileSync('bash', ['enclaves/vault/build.sh', '--ct-objects', dir], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  patched = disassemble(join(dir, 'secp256k1_unit.o'));
  unpatched = disassemble(join(dir, 'secp256k1_unit.unpatched.o'));
});
afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('libsecp256k1 as built (secp256k1-ct.patch applied)', () => {
  test('ecmult_gen, the secret table lookup: no select, no if, no br_table; its only branches are its two loops', () => {
    const body = fn(patched, 'secp256k1_ecmult_gen');
    expect(count(body, 'select')).toBe(0);
    expect(count(body, new Set(['if', 'br_table', 'br']))).toBe(0);
    expect(count(body, 'loop')).toBe(2); // the 64 groups of 4 bits, the 16 entries of a row
    expect(count(body, 'br_if')).toBe(2);
    expect(nonLatchBranches(body)).toEqual([]);
  });

  test('the cmovs are inlined into it (so the check above covers ge_storage_cmov and fe_storage_cmov)', () => {
    for (const name of ['secp256k1_ge_storage_cmov', 'secp256k1_fe_storage_cmov', 'secp256k1_fe_cmov']) {
      const body = patched.get(name);
      // Not emitted on its own; should a compiler ever do so, it must be straight-line too.
      if (body !== undefined) expect({ name, branches: count(body, BRANCHES), selects: count(body, 'select') }).toEqual({ name, branches: 0, selects: 0 });
    }
  });

  test('gej_add_ge (after each lookup): no branch; its cmovs are masks, not selects', () => {
    const body = fn(patched, 'secp256k1_gej_add_ge');
    expect(count(body, BRANCHES)).toBe(0);
    // Its three fe_cmovs (degenerate, a->infinity) would be 30 selects, one per limb. What remains are
    // the 2 of fe_normalizes_to_zero's `(z0 == 0) | (z1 == 0x3FFFFFF)` for r->infinity (as upstream).
    expect(count(body, 'select')).toBeLessThanOrEqual(2);
  });

  test('control: without the patch, clang turns the lookup into selects on `i == bits` (what the fix removes)', () => {
    const body = fn(unpatched, 'secp256k1_ecmult_gen');
    const selects = count(body, 'select');
    // 16 here: one per 32-bit limb of the 8 + 8 in a ge_storage. If a later clang stops doing this,
    // the check above still holds; this control just shows that it can see the problem.
    expect(selects).toBeGreaterThan(0);
    expect(count(fn(unpatched, 'secp256k1_gej_add_ge'), 'select')).toBeGreaterThan(count(fn(patched, 'secp256k1_gej_add_ge'), 'select'));
  });
});

describe('signing context blinding (keys.c)', () => {
  let enclave: Enclave;
  let vault: VaultEnclave;

  beforeAll(async () => {
    enclave = await openEnclave({ plugin: 'vault-test.wasm', masterKeys: testRing(masterKey(1)), workers: 1 });
    vault = await enclave.vault();
  });
  afterAll(async () => {
    await vault?.close();
    await enclave?.close();
  });

  async function state(): Promise<{ seeds: number; uses: number; interval: number; fingerprint: string }> {
    const [seeds, uses, interval, fingerprint] = await vault.call('t_sign_context', []);
    return { seeds: readU32le(seeds!), uses: readU32le(uses!), interval: readU32le(interval!), fingerprint: hex(fingerprint!) };
  }

  test('seeded at creation, re-seeded after every `interval` secret uses; signatures do not change', async () => {
    expect(await state()).toMatchObject({ seeds: 0, uses: 0, fingerprint: '' }); // no signing context yet
    const g = await vault.generate(bind('blinded')); // creates the context (seed 1) and uses it once (public key)
    const first = await state();
    expect(first).toMatchObject({ seeds: 1, uses: 1 });
    expect(first.interval).toBe(1000);
    expect(first.fingerprint).toHaveLength(64);

    const digest = createHash('sha256').update('same message').digest();
    const before = await vault.sign(g.sealed, bind('blinded'), digest);
    // Up to the interval: the same seed.
    const rest = first.interval - 2;
    await Promise.all(Array.from({ length: rest }, (_, i) => vault.sign(g.sealed, bind('blinded'), createHash('sha256').update(`m${i}`).digest())));
    const full = await state();
    expect(full).toMatchObject({ seeds: 1, uses: first.interval, fingerprint: first.fingerprint });

    // The next secret use re-seeds first: a new blinding, and RFC 6979 gives the same signature.
    const after = await vault.sign(g.sealed, bind('blinded'), digest);
    const reseeded = await state();
    expect(reseeded).toMatchObject({ seeds: 2, uses: 1 });
    expect(reseeded.fingerprint).not.toBe(first.fingerprint);
    expect(hex(after.signature)).toBe(hex(before.signature));
    expect(after.recovery).toBe(before.recovery);
    expect(await enclave.verify(g.publicKey, digest, after.signature)).toBe(true);
  });

  test('the production plugin has no such export', async () => {
    const prod = await openEnclave({ masterKeys: testRing(masterKey(1)), workers: 1 });
    try {
      const v = await prod.vault();
      await expect(v.call('t_sign_context', [])).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
      await v.close();
    } finally {
      await prod.close();
    }
  });
});
