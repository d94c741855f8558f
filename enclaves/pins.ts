// SHA-256 of the committed enclave plugins; written by enclaves/vault/build.sh. The host refuses to
// load a plugin whose hash differs (E_PLUGIN_INTEGRITY).
export const PINS = {
  'vault.wasm': '1625b164cbfc7790365361163b2220cc3f686720787199e3abe57f3044f07fcd',
  'vault-kdf.wasm': '0553a89b2fa321b94e39301337ff7f055450f4f1a0897f2e3a39db5623157e57',
  'vault-test.wasm': 'b0044eac1ba7cb5b50bf13069aa0863c249b34e377a283ec39c1b95c9ae282e2',
  'vault-test-kdf.wasm': 'fd3f3e14ec9cc01e1957e8a6b8d873830afbed305d0baf397906cce7a46f60b5',
} as const;
