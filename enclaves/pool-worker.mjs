// A worker thread that hosts many enclave plugin instances (Extism, main-thread mode inside this
// worker). Why a worker: a wasm call on the main thread cannot be preempted; here the host can
// terminate the whole worker when a call overruns its timeout and start a fresh one, while each call
// still costs microseconds instead of a worker per plugin (../shared/STACK.md).
//
// Plain JavaScript on purpose: worker threads run outside jest's and tsx's module transforms.
// Protocol (from enclaves/pool.ts): workerData = { module, masterKeys, progress }; messages in are
// { batch: [{ seq, inst, fn, input, oneShot }] }; messages out are { results: [{ seq, output } |
// { seq, error: { code, message } }] }. progress[0] holds the seq of the wasm call now executing (0 while
// none is), so that the host can time each call's own execution (not the wait for the worker, its
// start-up or instance creation) and knows which call was stuck when it terminates this worker.
//
// Master keys: `masterKeys` is a SharedArrayBuffer holding the input frame of the enclave's
// `set_master_keys` export (or undefined). Every new instance gets them through that call, before
// anything else runs in it: copied into a fresh buffer that Extism uses as the call's input as-is (no
// further copy), and zeroed right after. No instance has an Extism config, and no string ever holds a
// key. The host cannot call `set_master_keys` itself (E_BAD_INPUT), so it cannot swap an instance's keys.
import { parentPort, workerData } from 'node:worker_threads';

import { loadWasiQuietly } from './quiet-wasi.mjs';

// Extism loads node:wasi, which warns on Node 20; load it quietly first (quiet-wasi.mjs says why).
await loadWasiQuietly();
const { createPlugin } = await import('@extism/extism');

const { module, masterKeys, progress } = workerData;
const SET_MASTER_KEYS = 'set_master_keys'; // master-keys.ts SET_MASTER_KEYS
/** @type {Map<number, import('@extism/extism').Plugin>} */
const plugins = new Map();

async function newPlugin() {
  // enableWasiOutput: no /dev/null descriptors per instance (10,000 vaults would exhaust them);
  // the enclave never writes to stdio.
  const plugin = await createPlugin(module, { useWasi: true, enableWasiOutput: true, runInWorker: false });
  if (masterKeys === undefined) return plugin;
  // A Uint8Array over a whole ArrayBuffer: Extism keeps it as the input block instead of copying it.
  const input = new Uint8Array(masterKeys.byteLength);
  let status = -1;
  try {
    input.set(new Uint8Array(masterKeys));
    const output = await plugin.call(SET_MASTER_KEYS, input);
    status = output === null ? -1 : output.bytes()[1];
  } catch {
    status = -1;
  } finally {
    input.fill(0);
  }
  if (status !== 0) {
    await plugin.close();
    throw new KeysRefused(status);
  }
  return plugin;
}

class KeysRefused extends Error {
  constructor(status) {
    super(`enclave refused the master keys (status ${status})`);
  }
}

async function pluginFor(inst) {
  let plugin = plugins.get(inst);
  if (plugin === undefined) {
    plugin = await newPlugin();
    plugins.set(inst, plugin);
  }
  return plugin;
}

async function drop(inst) {
  const plugin = plugins.get(inst);
  plugins.delete(inst);
  if (plugin !== undefined) await plugin.close();
}

function copyOut(output) {
  // Copy out of the plugin's block before the next call reuses it.
  return output === null ? new Uint8Array(0) : new Uint8Array(output.bytes());
}

async function run({ seq, inst, fn, input, oneShot }) {
  if (fn === '__close') {
    await drop(inst);
    return { seq, output: new Uint8Array(0) };
  }
  if (fn === SET_MASTER_KEYS) {
    input?.fill?.(0);
    return { seq, error: { code: 'E_BAD_INPUT', message: `${SET_MASTER_KEYS} is called by the enclave pool only` } };
  }
  // A one-shot instance (export/import, created from the large-cap KDF module in a KDF worker) is
  // closed after its call. Closing does not free its linear memory (Argon2id's 256 MiB work area,
  // zeroed by the enclave by then): only a collection of this worker's heap does, so the pool ends
  // the whole KDF worker after each call instead (pool.ts, "Memory").
  let plugin;
  try {
    plugin = oneShot ? await newPlugin() : await pluginFor(inst);
  } catch (err) {
    input?.fill?.(0);
    const message = err instanceof KeysRefused ? err.message : 'enclave instance could not be created';
    return { seq, error: { code: 'E_ENCLAVE', message } };
  }
  try {
    if (!(await plugin.functionExists(fn))) {
      return { seq, error: { code: 'E_BAD_INPUT', message: `enclave has no export ${fn}` } };
    }
    // Only the wasm call itself is on the clock (the host's deadline counts from here).
    Atomics.store(progress, 0, seq);
    try {
      return { seq, output: copyOut(await plugin.call(fn, input)) };
    } finally {
      Atomics.store(progress, 0, 0);
    }
  } catch (err) {
    // A trap (unreachable, out-of-bounds) leaves the instance's C state unknown: replace it.
    if (!oneShot) await drop(inst);
    const message = err instanceof WebAssembly.RuntimeError ? 'enclave trapped' : 'enclave call failed';
    return { seq, error: { code: 'E_ENCLAVE', message } };
  } finally {
    if (oneShot) await plugin.close();
    input?.fill?.(0);
  }
}

// Batches run strictly one call at a time: a plugin must never see two calls at once.
let chain = Promise.resolve();
parentPort.on('message', ({ batch }) => {
  chain = chain.then(async () => {
    const results = [];
    for (const call of batch) results.push(await run(call));
    parentPort.postMessage({ results });
  });
});
