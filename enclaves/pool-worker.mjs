// A worker thread that hosts many enclave plugin instances (Extism, main-thread mode inside this
// worker). Why a worker: a wasm call on the main thread cannot be preempted; here the host can
// terminate the whole worker when a call overruns its timeout and start a fresh one, while each call
// still costs microseconds instead of a worker per plugin (../shared/STACK.md).
//
// Plain JavaScript on purpose: worker threads run outside jest's and tsx's module transforms.
// Protocol (from enclaves/pool.ts): workerData = { module, config, progress }; messages in are
// { batch: [{ seq, inst, fn, input, oneShot }] }; messages out are { results: [{ seq, output } |
// { seq, error: { code, message } }] }. progress[0] holds the seq of the wasm call now executing (0 while
// none is), so that the host can time each call's own execution (not the wait for the worker, its
// start-up or instance creation) and knows which call was stuck when it terminates this worker.
import { parentPort, workerData } from 'node:worker_threads';

import { loadWasiQuietly } from './quiet-wasi.mjs';

// Extism loads node:wasi, which warns on Node 20; load it quietly first (quiet-wasi.mjs says why).
await loadWasiQuietly();
const { createPlugin } = await import('@extism/extism');

const { module, config, progress } = workerData;
/** @type {Map<number, import('@extism/extism').Plugin>} */
const plugins = new Map();

async function newPlugin() {
  // enableWasiOutput: no /dev/null descriptors per instance (10,000 vaults would exhaust them);
  // the enclave never writes to stdio.
  return createPlugin(module, { useWasi: true, enableWasiOutput: true, runInWorker: false, config });
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
  // A one-shot instance (export/import) is thrown away after its call, so the 32 MiB that scrypt
  // touches never stays resident in a long-lived vault instance.
  const plugin = oneShot ? await newPlugin() : await pluginFor(inst);
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
