// Loads node:wasi without its one-time "ExperimentalWarning: WASI is an experimental feature" on
// Node 20 (Extism loads node:wasi for every plugin). Highway is embedded in other people's processes:
// a library must not print to their stderr, nor ask them to start node with --disable-warning.
//
// Node emits that warning once per thread, when node:wasi is first loaded, through
// process.emitWarning. This swaps emitWarning only for the duration of that load and drops only that
// warning; every other warning still goes through. Plain JavaScript so that the enclave's worker
// threads (which run outside jest's and tsx's transforms) can import it too.
let loaded;

/** @returns {Promise<void>} */
export function loadWasiQuietly() {
  loaded ??= (async () => {
    const emitWarning = process.emitWarning;
    process.emitWarning = function (warning, ...rest) {
      const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type;
      if (type === 'ExperimentalWarning' && /^WASI\b/.test(String(warning?.message ?? warning))) return;
      return emitWarning.call(this, warning, ...rest);
    };
    try {
      await import('node:wasi');
    } finally {
      process.emitWarning = emitWarning;
    }
  })();
  return loaded;
}
