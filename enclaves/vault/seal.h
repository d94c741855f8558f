/* Sealed vault data and password export envelope (ABI.md). */
#ifndef HWAY_SEAL_H
#define HWAY_SEAL_H

#include <stddef.h>
#include <stdint.h>

/* Sealed vault data v2 (ABI 3, what every seal writes): version 0x02 || key id (u32 LE) || epoch
 * (u32 LE) || account check (16) || nonce (24) || ciphertext (32) || tag (16) = 97 bytes; the vault id
 * and the account are in the associated data. */
#define SEALED_LEN 97
#define SEALED_VERSION 0x02
#define SEALED_CHECK_LEN 16
#define SEALED_HEADER_LEN (9 + SEALED_CHECK_LEN) /* 25: version, key id, epoch, account check */
/* Sealed vault data v1 (up to ABI 2; opened, no longer written): version 0x01 || key id || epoch ||
 * nonce (24) || ciphertext (32) || tag (16) = 81 bytes, the vault id in the associated data, no account. */
#define SEALED_V1_LEN 81
#define SEALED_V1_VERSION 0x01
#define VAULT_ID_MAX 256
#define ACCOUNT_MAX 256

/* Export envelope v1 (scrypt; import only since v2). Field list of ABI.md:
 * 1+1+1+1+1 + salt 16 + nonce 24 + check 16 = 61 header bytes, + ciphertext 32 + tag 16 = 109 bytes. */
#define ENV_SALT_LEN 16
#define ENV_NONCE_LEN 24
#define ENV_CHECK_LEN 16
#define ENV_HEADER_LEN (5 + ENV_SALT_LEN + ENV_NONCE_LEN + ENV_CHECK_LEN)
#define ENV_LEN (ENV_HEADER_LEN + 32 + 16)
#define ENV_VERSION 0x01
#define ENV_KDF_SCRYPT 0x01
#define PASSWORD_MAX 1024

/* Export envelope v2 (ABI.md): Argon2id, the vault id of the export in the header and so in the
 * associated data. Header: version 0x02 || kdf 0x02 || m KiB (u32 LE) || t (u32 LE) || p (u8) ||
 * salt 16 || nonce 24 || check 16 || vault id length (u16 LE) || vault id; then ciphertext 32 ||
 * tag 16. */
#define ENV2_VERSION 0x02
#define ENV_KDF_ARGON2ID 0x02
#define ENV2_OFF_M 2
#define ENV2_OFF_T 6
#define ENV2_OFF_P 10
#define ENV2_OFF_SALT 11
#define ENV2_OFF_NONCE (ENV2_OFF_SALT + ENV_SALT_LEN)
#define ENV2_OFF_CHECK (ENV2_OFF_NONCE + ENV_NONCE_LEN)
#define ENV2_OFF_VIDLEN (ENV2_OFF_CHECK + ENV_CHECK_LEN)
#define ENV2_OFF_VID (ENV2_OFF_VIDLEN + 2)                  /* 69 */
#define ENV2_HEADER_LEN(vidlen) (ENV2_OFF_VID + (vidlen))
#define ENV2_LEN(vidlen) (ENV2_HEADER_LEN(vidlen) + 32 + 16)  /* 117 + vault id length */
#define ENV2_MIN_LEN ENV2_LEN(1)
#define ENV2_MAX_LEN ENV2_LEN(VAULT_ID_MAX)
/* What export writes: m = 256 MiB, t = 3, p = 1. */
#define ENV2_EXPORT_M_KIB (256u * 1024u)
#define ENV2_EXPORT_T 3u
#define ENV2_EXPORT_P 1u
/* What import accepts (anything else is E_CORRUPT, refused before any allocation):
 * 8 KiB <= m <= 1 GiB, 1 <= t <= 10, m * t <= 2 GiB (at most 8/3 of the default's work), p = 1. */
#define ENV2_MIN_M_KIB 8u
#define ENV2_MAX_M_KIB (1024u * 1024u)
#define ENV2_MAX_T 10u
#define ENV2_MAX_WORK_KIB (2ull * 1024u * 1024u)
#define ENV2_P 1u
/* Export refuses passwords shorter than this many bytes (the host counts characters, >= bytes). */
#define EXPORT_PASSWORD_MIN 12

/* Fills buf with random bytes from WASI random_get; returns 0 or E_RNG. */
int rng_fill(uint8_t *buf, size_t len);

/* The vault a seal belongs to: its id (1..VAULT_ID_MAX bytes) and its account (1..ACCOUNT_MAX bytes,
 * the verified account of the request, never one read from storage by the enclave). */
typedef struct {
    const uint8_t *vid;
    size_t vidlen;
    const uint8_t *acct;
    size_t acctlen;
} binding_t;

/* Seals sk (v2) under master key `key_id` (must be configured), bound to b's vault id and account.
 * Returns 0, E_BAD_INPUT, E_KEY_RETIRED, E_RNG. */
int vault_seal(uint32_t key_id, uint32_t epoch, const binding_t *b, const uint8_t sk[32],
               uint8_t out[SEALED_LEN]);
/* Opens sealed data of b's vault: v2 only for b's account (E_FORBIDDEN for another one), v1 for any
 * account (it binds none). Returns 0, E_BAD_INPUT, E_CORRUPT, E_FORBIDDEN or E_KEY_RETIRED; sk is
 * zeroed on failure. */
int vault_open(const uint8_t *sealed, size_t sealedlen, const binding_t *b, uint8_t sk[32],
               uint32_t *key_id, uint32_t *epoch);

/* v2 password envelope of vault `vid` (1..VAULT_ID_MAX bytes) with the export defaults; `out` holds
 * ENV2_LEN(vidlen) bytes. Returns 0, E_BAD_INPUT, E_RNG or E_NO_MEMORY. */
int envelope_export(const uint8_t sk[32], const uint8_t *vid, size_t vidlen, const uint8_t *pw,
                    size_t pwlen, uint8_t *out);
/* The same with other Argon2id parameters (the test build's t_envelope_v2 writes small ones, so that
 * tests can open the envelope on the host); m_kib and t must be within import's bounds. */
int envelope_export_with(const uint8_t sk[32], const uint8_t *vid, size_t vidlen, const uint8_t *pw,
                         size_t pwlen, uint32_t m_kib, uint32_t t, uint8_t *out);
/* Opens a v1 or v2 envelope. For v2, *src and *srclen give the exporter's vault id inside `env`
 * (authenticated); for v1 they are NULL/0. Returns 0, E_CORRUPT, E_WRONG_PASSWORD or E_NO_MEMORY;
 * sk is zeroed on failure. */
int envelope_import(const uint8_t *env, size_t envlen, const uint8_t *pw, size_t pwlen, uint8_t sk[32],
                    const uint8_t **src, size_t *srclen);

#endif
