// Signature checks of wallet answers. The gateway verifies every raw signature before returning it,
// on the request path, so the check must be cheap: libsecp256k1 in the enclave's WebAssembly plugin,
// called on this thread (~0.15 ms; through the enclave's worker pool ~0.3 ms with the thread hop;
// @noble/curves ~1 ms). Running it on the main thread is safe here, unlike vault operations: verify
// touches no secret, takes bounded time and cannot spin. The plugin's SHA-256 is pinned (loadPlugin).
import type { Plugin } from '@extism/extism';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Logger } from '../../log.js';
import { decodeOutput, encodeFrame } from '../../enclaves/frame.js';
import { loadPlugin, pinnedPlugin } from '../../enclaves/wasm.js';
import { loadWasiQuietly } from '../../enclaves/quiet-wasi.mjs';

/** ECDSA verification of a 64-byte r‖s (low-S) over a 32-byte digest under a 33/65-byte public key. */
export type Verifier = (publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array) => Promise<boolean>;

/** Pure JS (noble): the fallback when the plugin cannot be loaded. */
export const nobleVerifier: Verifier = async (pk, digest, sig) => {
  try {
    return secp256k1.verify(sig, digest, pk, { prehash: false, lowS: true });
  } catch {
    return false;
  }
};

/** The enclave plugin's `verify`, on this thread, one call at a time (a plugin is not reentrant). */
export async function wasmVerifier(log: Logger): Promise<{ kind: 'wasm' | 'noble'; verify: Verifier; close: () => Promise<void> }> {
  let plugin: Plugin | undefined;
  try {
    // Extism is imported here, not at the top: its import loads node:wasi, which warns on Node 20.
    await loadWasiQuietly();
    const { createPlugin } = await import('@extism/extism');
    const module = await loadPlugin(pinnedPlugin('vault.wasm'));
    const make = (): Promise<Plugin> => createPlugin(module, { useWasi: true, enableWasiOutput: true, runInWorker: false, config: {} });
    plugin = await make();
    let chain: Promise<unknown> = Promise.resolve();
    const call = async (pk: Uint8Array, digest: Uint8Array, sig: Uint8Array): Promise<boolean> => {
      if (digest.length !== 32 || sig.length !== 64) return false;
      try {
        const out = await plugin!.call('verify', encodeFrame([pk, digest, sig, Uint8Array.of(0)]));
        const [verdict] = decodeOutput(out === null ? new Uint8Array(0) : new Uint8Array(out.bytes()));
        return verdict?.length === 1 && verdict[0] === 1;
      } catch (e) {
        // A failed call leaves the instance in an unknown state: replace it, answer with noble.
        log.warn('wasm verify failed, replacing the instance', { error: e instanceof Error ? e.message : String(e) });
        const old = plugin!;
        plugin = await make();
        await old.close().catch(() => undefined);
        return nobleVerifier(pk, digest, sig);
      }
    };
    return {
      kind: 'wasm',
      verify: (pk, digest, sig) => {
        const p = chain.then(() => call(pk, digest, sig));
        chain = p.catch(() => undefined);
        return p;
      },
      close: async () => {
        await chain;
        await plugin?.close();
      },
    };
  } catch (e) {
    await plugin?.close().catch(() => undefined);
    log.warn('wasm verifier unavailable, using JS verification', { error: e instanceof Error ? e.message : String(e) });
    return { kind: 'noble', verify: nobleVerifier, close: async () => undefined };
  }
}
