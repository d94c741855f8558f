// hway as a new user gets it: `npm pack`, then a fresh ESM project on this machine's Node installs the
// tarball from the registry as a consumer would (no overrides apply there), and:
// - the install prints no EBADENGINE and no installed package's `engines` excludes this Node;
// - the README's library example (examples/embed.mjs) runs under plain `node`, with nothing on stderr;
// - a strict NodeNext TypeScript consumer compiles against the shipped types with skipLibCheck false;
// - `npx hway demo` runs from the installed package;
// - `hway/client` loads none of Helia, Extism or nact, and the tarball holds no tests or test enclave.
// Deadlines here are only for hangs: installing and the demo take tens of seconds on a busy machine.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import semver from 'semver';
import { Redis } from 'ioredis';
import { deleteKeysWithPrefix } from '../storage/prefix-keys.js';
import { ROOT } from './helpers/cli.js';
import { countKeys } from './helpers/redis.js';

const run = promisify(execFile);
const MINUTES = 60_000;
const work = mkdtempSync(join(tmpdir(), 'hway-package-'));
const app = join(work, 'app');
let tarball = '';
let installLog = '';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A clean environment: no jest NODE_OPTIONS, no HWAY_* or npm_* variables of the outer run. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
  for (const k of Object.keys(env)) if (k.startsWith('HWAY_') || k.startsWith('npm_')) delete env[k];
  return env;
}

/** Runs a command in the consumer project (`env`: variables on top of the clean environment). */
function inApp(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const proc = spawn(cmd, args, { cwd: app, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((r) => proc.on('close', (code) => r({ code, stdout, stderr })));
}

beforeAll(async () => {
  // prepack builds dist/ (npm pack runs the `prepare` script), so the tarball is what the sources build.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, env: cleanEnv(), maxBuffer: 64 << 20 });
  const [info] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  tarball = join(work, info!.filename);
  console.log(`tarball ${info!.filename}: ${info!.size} bytes packed, ${info!.unpackedSize} unpacked, ${info!.files.length} files`);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  const r = await inApp('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, 'typescript@5.9.3', '@types/node@20']);
  installLog = r.stdout + r.stderr;
  if (r.code !== 0) throw new Error(`npm install of the tarball failed:\n${installLog}`);
}, 15 * MINUTES);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed tarball', () => {
  test('holds dist, README and LICENSE only: no tests, benchmarks, sources or test enclave', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/client.js');
    expect(files).toContain('dist/bin/hway.js');
    expect(files).toContain('dist/enclaves/vault.wasm');
    expect(files).toContain('dist/enclaves/pool-worker.mjs');
    expect(files).toContain('dist/storage/lua/enqueue_many.lua');
    for (const f of ['index.html', 'page.js', 'page.css']) expect(files).toContain(`dist/actors/http/page/assets/${f}`); // the cluster page
    expect(files).toContain('LICENSE');
    const strays = files.filter((f) => /(^|\/)(spec|bench|examples)\//.test(f) || f.includes('vault-test') || (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.endsWith('.c'));
    expect(strays).toEqual([]);
  });

  test('installs on this Node with no EBADENGINE, and every installed package allows this Node', () => {
    expect(installLog).not.toMatch(/EBADENGINE/);
    const bad: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        if (name.startsWith('.')) continue;
        const pkgDir = join(dir, name);
        if (name.startsWith('@')) {
          walk(pkgDir);
          continue;
        }
        const manifest = join(pkgDir, 'package.json');
        if (existsSync(manifest)) {
          const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string; engines?: { node?: string } };
          const range = pkg.engines?.node;
          if (range !== undefined && semver.validRange(range) !== null && !semver.satisfies(process.version, range)) bad.push(`${pkg.name}@${pkg.version} (${range})`);
        }
        if (existsSync(join(pkgDir, 'node_modules'))) walk(join(pkgDir, 'node_modules'));
      }
    };
    walk(join(app, 'node_modules'));
    expect(bad).toEqual([]);
  });
});

test('the README shows the library example exactly as examples/embed.mjs has it (so every name is defined)', () => {
  const example = readFileSync(join(ROOT, 'examples', 'embed.mjs'), 'utf8');
  const code = example.slice(example.indexOf('\nimport ') + 1).trim(); // without its header comment
  expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain(code);
});

describe('the installed package', () => {
  test('runs the README library example under plain node, with nothing on stderr', async () => {
    copyFileSync(join(ROOT, 'examples', 'embed.mjs'), join(app, 'embed.mjs'));
    // The example keeps its data, as a service would: the test gives it a prefix and removes that after.
    const prefix = `embed-test-${randomBytes(4).toString('hex')}`;
    const redis = new Redis('redis://127.0.0.1:6379'); // the example's default: cleanEnv drops HWAY_REDIS
    const r = await inApp(process.execPath, ['embed.mjs'], { HWAY_PREFIX: prefix });
    const left = await countKeys(redis, prefix);
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^generated treasury-1 0x[0-9a-fA-F]{40}$/m);
    expect(r.stdout).toContain('signed and verified: true');
    expect(r.stdout).toMatch(/^exported to IPFS as b[a-z2-7]+$/m);
    expect(r.stdout).toContain('imported; same key: true ; same signature: true');
    expect(r.stdout).toContain('custom task: {"invoiceId":"inv-7","settled":true}');
    expect(r.stdout.trim().endsWith('stopped')).toBe(true);
    expect(left).toBeGreaterThan(0); // it kept its data under the prefix it was given
  }, 10 * MINUTES);

  test('a strict NodeNext TypeScript consumer compiles against the shipped types (skipLibCheck false)', async () => {
    for (const f of ['consumer.ts', 'tsconfig.json']) copyFileSync(join(ROOT, 'spec', 'fixtures', 'consumer', f), join(app, f));
    const r = await inApp(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 10 * MINUTES);

  // The demo's human output is checked here only (spec/cli-demo.test.ts checks its --json output from
  // the sources): each demo run costs two Argon2id exports, and this one is what a new user sees.
  test('`npx hway demo` runs every step from the installed package: aligned ✓ lines, a summary, no warnings', async () => {
    const r = await inApp('npx', ['--no-install', 'hway', 'demo']);
    expect(r.stderr).toBe(''); // no ExperimentalWarning from the enclave's WASI workers, no logs
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const steps = lines.slice(0, -1);
    for (const l of steps) expect(l).toMatch(/^✓ .{22} +\d+ ms  \S/);
    // Aligned: the "ms" column ends at the same place on every line.
    expect(new Set(steps.map((l) => l.indexOf(' ms  '))).size).toBe(1);
    expect(lines.at(-1)).toMatch(new RegExp(`^✓ ${steps.length}/${steps.length} steps ok in \\d+\\.\\d s`));
  }, 10 * MINUTES);

  test('hway/client loads none of Helia, Extism, nact or libp2p', () => {
    // Every module reachable from dist/client.js through static or dynamic imports.
    const pkgRoot = join(app, 'node_modules', 'hway');
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
        else bare.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    };
    visit(join(pkgRoot, 'dist', 'client.js'));
    const heavy = [...bare].filter((s) => /^(helia|@helia|@extism|nact|libp2p|@libp2p)$/.test(s));
    expect(heavy).toEqual([]);
    expect(bare.has('ioredis')).toBe(true); // the walk did reach the modules that talk to Redis
    const bytes = [...seen].reduce((n, f) => n + statSync(f).size, 0);
    console.log(`hway/client: ${seen.size} modules of hway (${bytes} bytes), packages ${[...bare].filter((s) => !s.startsWith('node:')).sort().join(', ')}`);
  });
});
