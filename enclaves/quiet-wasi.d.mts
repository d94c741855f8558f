/** Loads node:wasi once per thread without Node 20's WASI ExperimentalWarning (see quiet-wasi.mjs). */
export declare function loadWasiQuietly(): Promise<void>;
