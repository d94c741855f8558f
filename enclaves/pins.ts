// SHA-256 of the committed enclave plugins; written by enclaves/vault/build.sh. The host refuses to
// load a plugin whose hash differs (E_PLUGIN_INTEGRITY).
export const PINS = {
  'vault.wasm': '0b770516c11015530dd407717973496086d2f0776f218722f1b7e78d5f3c9ba0',
  'vault-kdf.wasm': '8f0f67b95b851b9c27a293ca09b1a78559705668e81aecfd1afd216fcc0873c1',
  'vault-test.wasm': 'c45cd734902e4870c8ea5f064088a8c7d7e631f2793cca1e8c2dc013f4b607cf',
  'vault-test-kdf.wasm': 'a7094200b5bc0e24021b2682ba5f0714367ea156afa5e1bd9af946ee02ece908',
} as const;
