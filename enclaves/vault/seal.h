/* Sealed vault data and password export envelope (ABI.md). */
#ifndef HWAY_SEAL_H
#define HWAY_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEALED_LEN 81
#define SEALED_VERSION 0x01
#define VAULT_ID_MAX 256

/* Field list of ABI.md: 1+1+1+1+1 + salt 16 + nonce 24 + check 16 = 61 header bytes,
 * + ciphertext 32 + tag 16 = 109 bytes. */
#define ENV_SALT_LEN 16
#define ENV_NONCE_LEN 24
#define ENV_CHECK_LEN 16
#define ENV_HEADER_LEN (5 + ENV_SALT_LEN + ENV_NONCE_LEN + ENV_CHECK_LEN)
#define ENV_LEN (ENV_HEADER_LEN + 32 + 16)
#define ENV_VERSION 0x01
#define ENV_KDF_SCRYPT 0x01
#define ENV_EXPORT_LOG2N 15
#define ENV_EXPORT_R 8
#define ENV_EXPORT_P 1
#define PASSWORD_MAX 1024

/* Fills buf with random bytes from WASI random_get; returns 0 or E_RNG. */
int rng_fill(uint8_t *buf, size_t len);

/* Seals sk under master key `key_id` (must be configured). Returns 0, E_KEY_RETIRED, E_RNG. */
int vault_seal(uint32_t key_id, uint32_t epoch, const uint8_t *vid, size_t vidlen,
               const uint8_t sk[32], uint8_t out[SEALED_LEN]);
/* Opens sealed data. Returns 0, E_CORRUPT or E_KEY_RETIRED; sk is zeroed on failure. */
int vault_open(const uint8_t *sealed, size_t sealedlen, const uint8_t *vid, size_t vidlen,
               uint8_t sk[32], uint32_t *key_id, uint32_t *epoch);

/* Password envelope. Returns 0, E_RNG or E_NO_MEMORY. */
int envelope_export(const uint8_t sk[32], const uint8_t *pw, size_t pwlen, uint8_t out[ENV_LEN]);
/* Returns 0, E_CORRUPT, E_WRONG_PASSWORD or E_NO_MEMORY; sk is zeroed on failure. */
int envelope_import(const uint8_t *env, size_t envlen, const uint8_t *pw, size_t pwlen, uint8_t sk[32]);

#endif
