// The host pins the plugin's SHA-256 and refuses anything else.
import { expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Enclave } from '../enclaves/enclave.js';
import { PINS } from '../enclaves/pins.js';
import { pinnedPlugin } from '../enclaves/wasm.js';

test('pins are the SHA-256 of the committed plugins', () => {
  for (const name of Object.keys(PINS) as (keyof typeof PINS)[]) {
    const { path, sha256 } = pinnedPlugin(name);
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(sha256);
  }
});

test('a plugin with one flipped byte is refused with E_PLUGIN_INTEGRITY', async () => {
  const { path, sha256 } = pinnedPlugin('vault.wasm');
  const bytes = readFileSync(path);
  bytes[bytes.length >> 1]! ^= 0x40;
  const tampered = join(mkdtempSync(join(tmpdir(), 'hway-')), 'vault.wasm');
  writeFileSync(tampered, bytes);
  await expect(Enclave.open({ plugin: { path: tampered, sha256 } })).rejects.toMatchObject({ code: 'E_PLUGIN_INTEGRITY' });
  await expect(Enclave.open({ plugin: { path: join(tmpdir(), 'no-such.wasm'), sha256 } })).rejects.toMatchObject({ code: 'E_PLUGIN_INTEGRITY' });
});
