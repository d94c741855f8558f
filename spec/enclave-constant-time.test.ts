// libsecp256k1's secret-dependent table lookup stays branch-free in the code we ship.
//
// libsecp256k1 0.5.0 carries upstream's fix for clang >= 14 (v0.3.1, "Fix 'constant-timeness' issue with
// Clang >= 14"): a cmov reads its flag through a volatile local, so clang cannot see that the flag is 0 or
// 1 and replace the mask arithmetic with a choice on it. Signing looks up, for each of the 43 comb blocks,
// one of 32 precomputed points with secp256k1_ge_storage_cmov(…, index == abs) over the block's whole
// table; a `select` or branch on `index == abs` there is a choice on a secret.
//
// build.sh --ct-objects compiles libsecp256k1's object exactly as it goes into vault.wasm, unstripped,
// plus a control with the volatile trick undone (libsecp256k1 before the fix); wasm-objdump (Debian
// package wabt, installed by .ci/run) disassembles both. Also here: the signing context's blinding is
// re-seeded at creation and every KEYS_RERANDOMIZE_EVERY uses (keys.c), seen through the test build's
// t_sign_context export.
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
 * Why each `br_if` of `body` is harmless, or the reason it is not. Each must be either
 * - the latch of the loop it closes (`br_if 0` right before that loop's `end`), taken on
 *   `counter <cmp> constant`, where the loop changes `counter` only by adding a constant to it: a loop
 *   over public bounds; or
 * - taken on `flag & 1`, where every write of `flag` stores a constant and the first of them comes
 *   before any block or loop (so `flag` is not a parameter holding the caller's data): the flag then
 *   depends only on which way earlier branches went, and by induction those are public too
 *   (ecmult_gen's "first lookup" flag, which skips the addition to the point at infinity).
 */
function nonPublicBranches(body: Instr[]): string[] {
  const problems: string[] = [];
  const open: { op: string; at: number }[] = [];
  const isAccess = (w: Instr, local: string) => /^local\.(get|set|tee)$/.test(w.op) && w.arg === local;
  const isWrite = (w: Instr, local: string) => (w.op === 'local.set' || w.op === 'local.tee') && w.arg === local;
  const writtenOnlyWithConstants = (local: string): boolean => {
    const first = body.findIndex((w) => isAccess(w, local));
    const firstBlock = body.findIndex((w) => w.op === 'block' || w.op === 'loop' || w.op === 'if');
    if (first < 0 || !isWrite(body[first]!, local) || (firstBlock >= 0 && first > firstBlock)) return false;
    return body.every((w, j) => !isWrite(w, local) || body[j - 1]?.op === 'i32.const');
  };
  body.forEach((ins, k) => {
    if (ins.op === 'block' || ins.op === 'loop' || ins.op === 'if') open.push({ op: ins.op, at: k });
    else if (ins.op === 'end') open.pop();
    if (ins.op !== 'br_if') return;
    const where = `br_if #${k}`;
    const [ref, bound, cmp] = [body[k - 3], body[k - 2], body[k - 1]];
    if (ref?.op === 'local.get' && bound?.op === 'i32.const' && bound.arg === '1' && cmp?.op === 'i32.and') {
      if (!writtenOnlyWithConstants(ref.arg)) problems.push(`${where} is taken on local ${ref.arg}, which is not a flag written only with constants`);
      return;
    }
    const loop = open[open.length - 1];
    if (ins.arg !== '0' || loop?.op !== 'loop' || body[k + 1]?.op !== 'end') return void problems.push(`${where} is neither a loop latch nor taken on a constant-written flag`);
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

let built: Map<string, Instr[]>;
let control: Map<string, Instr[]>;
let dir: string;

function fn(objects: Map<string, Instr[]>, name: string): Instr[] {
  const body = objects.get(name);
  if (body === undefined) throw new Error(`${name} is not a function of the object (inlined or renamed?): the checks below would see nothing`);
  return body;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hway-ct-'));
  execFileSync('bash', ['enclaves/vault/build.sh', '--ct-objects', dir], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  built = disassemble(join(dir, 'secp256k1_unit.o'));
  control = disassemble(join(dir, 'secp256k1_unit.control.o'));
});
afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('libsecp256k1 0.5.0 as built', () => {
  test('ecmult_gen, the secret table lookup: no select, no if, no br_table; its branches are its two loops and the public "first lookup" flag', () => {
    const body = fn(built, 'secp256k1_ecmult_gen');
    expect(count(body, 'select')).toBe(0);
    expect(count(body, new Set(['if', 'br_table']))).toBe(0);
    // The 43 blocks, and the 32 entries of a block's table (with 43 blocks of 6 teeth the comb spacing is
    // 1, so there is no doubling loop around them).
    expect(count(body, 'loop')).toBe(2);
    expect(count(body, 'br_if')).toBe(3);
    expect(nonPublicBranches(body)).toEqual([]);
  });

  test('the cmovs are inlined into it (so the check above covers ge_storage_cmov and fe_storage_cmov)', () => {
    for (const name of ['secp256k1_ge_storage_cmov', 'secp256k1_fe_storage_cmov', 'secp256k1_fe_cmov']) {
      const body = built.get(name);
      // Not emitted on its own; should a compiler ever do so, it must be straight-line too.
      if (body !== undefined) expect({ name, branches: count(body, BRANCHES), selects: count(body, 'select') }).toEqual({ name, branches: 0, selects: 0 });
    }
  });

  test('gej_add_ge (after each lookup): no branch; its cmovs are masks, not selects', () => {
    const body = fn(built, 'secp256k1_gej_add_ge');
    expect(count(body, BRANCHES)).toBe(0);
    // Its three fe_cmovs (degenerate, a->infinity) would be 30 selects, one per limb (the control shows it).
    expect(count(body, 'select')).toBe(0);
  });

  test('control: without the volatile trick, clang turns the lookup into selects on `index == abs` (what the fix prevents)', () => {
    const body = fn(control, 'secp256k1_ecmult_gen');
    // 16 here: one per 32-bit limb of the 8 + 8 in a ge_storage. If a later clang stops doing this,
    // the checks above still hold; this control just shows that they can see the problem.
    expect(count(body, 'select')).toBeGreaterThan(0);
    expect(count(fn(control, 'secp256k1_gej_add_ge'), 'select')).toBeGreaterThan(count(fn(built, 'secp256k1_gej_add_ge'), 'select'));
  });

  test('control: the branch check itself rejects a branch taken on a computed value or on a parameter', () => {
    // ecmult_gen's `first` flag is written only with constants; a flag computed from data is not accepted.
    const flagged: Instr[] = [
      { op: 'local.get', arg: '5' }, { op: 'i32.const', arg: '7' }, { op: 'i32.xor', arg: '' }, { op: 'local.set', arg: '9' },
      { op: 'block', arg: '' }, { op: 'local.get', arg: '9' }, { op: 'i32.const', arg: '1' }, { op: 'i32.and', arg: '' }, { op: 'br_if', arg: '0' }, { op: 'end', arg: '' },
    ];
    expect(nonPublicBranches(flagged)).toEqual(['br_if #8 is taken on local 9, which is not a flag written only with constants']);
    // A parameter (read before any write) is the caller's data, even if the body writes only constants.
    const param: Instr[] = [
      { op: 'block', arg: '' }, { op: 'local.get', arg: '0' }, { op: 'i32.const', arg: '1' }, { op: 'i32.and', arg: '' }, { op: 'br_if', arg: '0' }, { op: 'end', arg: '' },
      { op: 'i32.const', arg: '1' }, { op: 'local.set', arg: '0' },
    ];
    expect(nonPublicBranches(param)).toEqual(['br_if #4 is taken on local 0, which is not a flag written only with constants']);
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
