#include "seal.h"

#include <wasi/api.h>

#include "chacha20poly1305.h"
#include "config.h"
#include "hmac.h"
#include "scrypt.h"
#include "secure.h"
#include "status.h"

static const char VAULT_INFO[] = "hway/vault/v1";
static const char CHECK_INFO[] = "hway/export/check/v1";

int rng_fill(uint8_t *buf, size_t len) {
    if (len == 0) return HW_OK;
    if (__wasi_random_get(buf, len) != 0) {
        secure_zero(buf, len);
        return E_RNG;
    }
    return HW_OK;
}

static void vault_key(const uint8_t master[32], const uint8_t *vid, size_t vidlen, uint8_t key[32]) {
    hkdf_sha256(master, 32, vid, vidlen, (const uint8_t *)VAULT_INFO, sizeof(VAULT_INFO) - 1, key, 32);
}

/* aad = sealed[0..9] || vault id; at most 9 + 256 bytes. */
static size_t vault_aad(const uint8_t head[9], const uint8_t *vid, size_t vidlen, uint8_t aad[9 + VAULT_ID_MAX]) {
    memcpy(aad, head, 9);
    memcpy(aad + 9, vid, vidlen);
    return 9 + vidlen;
}

int vault_seal(uint32_t key_id, uint32_t epoch, const uint8_t *vid, size_t vidlen,
               const uint8_t sk[32], uint8_t out[SEALED_LEN]) {
    const uint8_t *master = config_key(key_id);
    uint8_t key[32], aad[9 + VAULT_ID_MAX];
    size_t aadlen;
    int rc;
    if (master == NULL) return E_KEY_RETIRED;
    if (vidlen < 1 || vidlen > VAULT_ID_MAX) return E_BAD_INPUT;
    out[0] = SEALED_VERSION;
    store32_le(out + 1, key_id);
    store32_le(out + 5, epoch);
    rc = rng_fill(out + 9, 24);
    if (rc != HW_OK) return rc;
    aadlen = vault_aad(out, vid, vidlen, aad);
    vault_key(master, vid, vidlen, key);
    aead_xchacha20poly1305_seal(key, out + 9, aad, aadlen, sk, 32, out + 33, out + 65);
    secure_zero(key, sizeof(key));
    return HW_OK;
}

int vault_open(const uint8_t *sealed, size_t sealedlen, const uint8_t *vid, size_t vidlen,
               uint8_t sk[32], uint32_t *key_id, uint32_t *epoch) {
    const uint8_t *master;
    uint8_t key[32], aad[9 + VAULT_ID_MAX];
    size_t aadlen;
    uint32_t id;
    int rc;
    memset(sk, 0, 32);
    if (vidlen < 1 || vidlen > VAULT_ID_MAX) return E_BAD_INPUT;
    if (sealedlen != SEALED_LEN || sealed[0] != SEALED_VERSION) return E_CORRUPT;
    id = load32_le(sealed + 1);
    master = config_key(id);
    if (master == NULL) return E_KEY_RETIRED;
    aadlen = vault_aad(sealed, vid, vidlen, aad);
    vault_key(master, vid, vidlen, key);
    rc = aead_xchacha20poly1305_open(key, sealed + 9, aad, aadlen, sealed + 33, 32, sealed + 65, sk);
    secure_zero(key, sizeof(key));
    if (rc != 0) {
        secure_zero(sk, 32);
        return E_CORRUPT;
    }
    *key_id = id;
    *epoch = load32_le(sealed + 5);
    return HW_OK;
}

/* key material (64) -> encryption key (first 32) and check (16). */
static void env_derive(const uint8_t *pw, size_t pwlen, const uint8_t *hdr, uint8_t km[64], int *rc) {
    *rc = scrypt_kdf(pw, pwlen, hdr + 5, ENV_SALT_LEN, hdr[2], hdr[3], hdr[4], km, 64);
    if (*rc == E_BAD_INPUT) *rc = E_CORRUPT;
}

static void env_check(const uint8_t km[64], uint8_t check[16]) {
    uint8_t mac[32];
    hmac_sha256(km + 32, 32, (const uint8_t *)CHECK_INFO, sizeof(CHECK_INFO) - 1, mac);
    memcpy(check, mac, 16);
    secure_zero(mac, sizeof(mac));
}

int envelope_export(const uint8_t sk[32], const uint8_t *pw, size_t pwlen, uint8_t out[ENV_LEN]) {
    uint8_t km[64];
    int rc;
    out[0] = ENV_VERSION;
    out[1] = ENV_KDF_SCRYPT;
    out[2] = ENV_EXPORT_LOG2N;
    out[3] = ENV_EXPORT_R;
    out[4] = ENV_EXPORT_P;
    rc = rng_fill(out + 5, ENV_SALT_LEN + ENV_NONCE_LEN);
    if (rc != HW_OK) return rc;
    env_derive(pw, pwlen, out, km, &rc);
    if (rc != HW_OK) goto done;
    env_check(km, out + 5 + ENV_SALT_LEN + ENV_NONCE_LEN);
    aead_xchacha20poly1305_seal(km, out + 5 + ENV_SALT_LEN, out, ENV_HEADER_LEN, sk, 32,
                                out + ENV_HEADER_LEN, out + ENV_HEADER_LEN + 32);
done:
    secure_zero(km, sizeof(km));
    if (rc != HW_OK) secure_zero(out, ENV_LEN);
    return rc;
}

int envelope_import(const uint8_t *env, size_t envlen, const uint8_t *pw, size_t pwlen, uint8_t sk[32]) {
    uint8_t km[64], check[16];
    int rc;
    memset(sk, 0, 32);
    if (envlen != ENV_LEN || env[0] != ENV_VERSION || env[1] != ENV_KDF_SCRYPT) return E_CORRUPT;
    if (env[2] < 15 || env[2] > 20 || env[3] < 1 || env[3] > 16 || env[4] != 1) return E_CORRUPT;
    /* scrypt needs 128 * r * N bytes: refuse what the 64 MiB linear memory cannot hold as corrupt,
       before allocating, rather than failing with E_NO_MEMORY (ABI.md: 128 * r * N <= 32 MiB). */
    if (((uint64_t)128 * env[3]) << env[2] > ((uint64_t)32 << 20)) return E_CORRUPT;
    env_derive(pw, pwlen, env, km, &rc);
    if (rc != HW_OK) goto done;
    env_check(km, check);
    if (!ct_equal(check, env + 5 + ENV_SALT_LEN + ENV_NONCE_LEN, ENV_CHECK_LEN)) {
        rc = E_WRONG_PASSWORD;
        goto done;
    }
    if (aead_xchacha20poly1305_open(km, env + 5 + ENV_SALT_LEN, env, ENV_HEADER_LEN,
                                    env + ENV_HEADER_LEN, 32, env + ENV_HEADER_LEN + 32, sk) != 0) {
        rc = E_CORRUPT;
    }
done:
    secure_zero(km, sizeof(km));
    secure_zero(check, sizeof(check));
    if (rc != HW_OK) secure_zero(sk, 32);
    return rc;
}
