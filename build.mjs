// `npm run build`: compiles the package into dist/ (tsc -p tsconfig.build.json) and copies the files
// that modules load at run time through `import.meta.url`, at the same relative paths, so that the
// code runs the same from dist/ as from the sources. The test build of the enclave is not copied:
// it must never ship. `--out DIR` builds into DIR instead: `npm test` builds the CLI its tests spawn
// into .test-build/ (spec/helpers/cli.ts), apart from dist/, which the package test's `npm pack`
// rebuilds while other tests run.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const outAt = process.argv.indexOf('--out');
const dist = outAt > 0 && process.argv[outAt + 1] ? join(root, process.argv[outAt + 1]) : join(root, 'dist');

const ASSETS = [
  ['storage/lua', (f) => f.endsWith('.lua')],
  ['enclaves', (f) => f === 'vault.wasm' || f === 'vault-kdf.wasm' || f === 'pool-worker.mjs' || f === 'quiet-wasi.mjs' || f === 'quiet-wasi.d.mts'],
  ['actors/http/page/assets', (f) => /\.(html|js|css|svg)$/.test(f)],
];

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit' });

let copied = 0;
for (const [dir, keep] of ASSETS) {
  mkdirSync(join(dist, dir), { recursive: true });
  for (const f of readdirSync(join(root, dir)).filter(keep)) {
    cpSync(join(root, dir, f), join(dist, dir, f));
    copied++;
  }
}
const bin = join(dist, 'bin', 'hway.js');
if (!existsSync(bin)) throw new Error(`build: ${bin} is missing`);
chmodSync(bin, 0o755);
console.log(`build: ${dist} compiled, ${copied} run-time files copied`);
