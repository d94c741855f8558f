// SHA-256 of the committed enclave plugins; written by enclaves/vault/build.sh. The host refuses to
// load a plugin whose hash differs (E_PLUGIN_INTEGRITY).
export const PINS = {
  'vault.wasm': 'ec91e29b2340670edcea6d471375e1ba657ab131b0b7552aacee96b59564c4c9',
  'vault-test.wasm': '717dff4cd0addacf9a50b763bdacf9b891571a74df092b19adac683103f9729d',
} as const;
