// Loads an enclave plugin's wasm and refuses any file whose SHA-256 is not the pinned one: a swapped
// or damaged enclave must never see a master key.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { HwayError } from '../errors.js';
import { PINS } from './pins.js';

export type PluginName = keyof typeof PINS;

export interface PluginSource {
  path: string;
  sha256: string;
}

/** The committed plugin `name` with its pinned hash. */
export function pinnedPlugin(name: PluginName): PluginSource {
  return { path: fileURLToPath(new URL(`./${name}`, import.meta.url)), sha256: PINS[name] };
}

export async function loadPlugin(source: PluginSource): Promise<WebAssembly.Module> {
  let bytes: Buffer;
  try {
    bytes = await readFile(source.path);
  } catch (err) {
    throw new HwayError('E_PLUGIN_INTEGRITY', `enclave plugin ${source.path} cannot be read`, { cause: err });
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== source.sha256.toLowerCase()) {
    throw new HwayError('E_PLUGIN_INTEGRITY', `enclave plugin ${source.path} has SHA-256 ${actual}, expected ${source.sha256}`);
  }
  return WebAssembly.compile(new Uint8Array(bytes));
}
