// SHA-256 of the committed enclave plugins; written by enclaves/vault/build.sh. The host refuses to
// load a plugin whose hash differs (E_PLUGIN_INTEGRITY).
export const PINS = {
  'vault.wasm': '7b8219bc602e8b82cbc815e3c82f14374f8eb0463591df9b96b763f09733c806',
  'vault-kdf.wasm': 'e77a5bdf9728eda7fd467f69eb7bd3a08440ab98849d42f2fcdb8344368a597b',
  'vault-test.wasm': '1dcc3d627b5b6416715eb1de9a5bcd33d4002db199a485511bb3306115c21e99',
  'vault-test-kdf.wasm': '59ff24a2d4f8671cbc401c23dac94d2427cae63916d668a3528dc72a80064f54',
} as const;
