// SHA-256 of the committed enclave plugins; written by enclaves/vault/build.sh. The host refuses to
// load a plugin whose hash differs (E_PLUGIN_INTEGRITY).
export const PINS = {
  'vault.wasm': '9ac8c2e0af8b32f2eb7c411189d2b84e6a7d3f028287dc0e91abe9b31baef869',
  'vault-test.wasm': '6c09331c5dee0286aa7f33689f053f5e52d1442d892882da3a42aaa40ae43103',
} as const;
