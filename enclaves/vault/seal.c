#include "seal.h"

#include <wasi/api.h>

#include "argon2id.h"
#include "chacha20poly1305.h"
#include "config.h"
#include "hmac.h"
#include "scrypt.h"
#include "secure.h"
#include "status.h"

static const char VAULT_INFO[] = "hway/vault/v1";
static const char CHECK_INFO_V1[] = "hway/export/check/v1";
static const char CHECK_INFO_V2[] = "hway/export/check/v2";

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

static void env_check(const uint8_t km[64], const char *info, size_t infolen, uint8_t check[16]) {
    uint8_t mac[32];
    hmac_sha256(km + 32, 32, (const uint8_t *)info, infolen, mac);
    memcpy(check, mac, 16);
    secure_zero(mac, sizeof(mac));
}

/* v2: key material (64) = Argon2id(password, salt, t, m, p); encryption key = first 32 bytes,
 * check = HMAC-SHA256(last 32 bytes, CHECK_INFO_V2)[0..16]. */
static int env2_derive(const uint8_t *pw, size_t pwlen, const uint8_t *hdr, uint8_t km[64]) {
    return argon2id_kdf(pw, pwlen, hdr + ENV2_OFF_SALT, ENV_SALT_LEN, NULL, 0, NULL, 0,
                        load32_le(hdr + ENV2_OFF_T), load32_le(hdr + ENV2_OFF_M), hdr[ENV2_OFF_P], km, 64);
}

int envelope_export(const uint8_t sk[32], const uint8_t *vid, size_t vidlen, const uint8_t *pw,
                    size_t pwlen, uint8_t *out) {
    return envelope_export_with(sk, vid, vidlen, pw, pwlen, ENV2_EXPORT_M_KIB, ENV2_EXPORT_T, out);
}

int envelope_export_with(const uint8_t sk[32], const uint8_t *vid, size_t vidlen, const uint8_t *pw,
                         size_t pwlen, uint32_t m_kib, uint32_t t, uint8_t *out) {
    uint8_t km[64];
    size_t hlen = ENV2_HEADER_LEN(vidlen);
    int rc;
    if (vidlen < 1 || vidlen > VAULT_ID_MAX || pwlen < EXPORT_PASSWORD_MIN || pwlen > PASSWORD_MAX)
        return E_BAD_INPUT;
    if (m_kib < ENV2_MIN_M_KIB || m_kib > ENV2_MAX_M_KIB || t < 1 || t > ENV2_MAX_T ||
        (uint64_t)m_kib * t > ENV2_MAX_WORK_KIB)
        return E_BAD_INPUT;
    out[0] = ENV2_VERSION;
    out[1] = ENV_KDF_ARGON2ID;
    store32_le(out + ENV2_OFF_M, m_kib);
    store32_le(out + ENV2_OFF_T, t);
    out[ENV2_OFF_P] = ENV2_EXPORT_P;
    rc = rng_fill(out + ENV2_OFF_SALT, ENV_SALT_LEN + ENV_NONCE_LEN);
    if (rc != HW_OK) goto done;
    out[ENV2_OFF_VIDLEN] = (uint8_t)vidlen;
    out[ENV2_OFF_VIDLEN + 1] = (uint8_t)(vidlen >> 8);
    memcpy(out + ENV2_OFF_VID, vid, vidlen);
    rc = env2_derive(pw, pwlen, out, km);
    if (rc != HW_OK) goto done;
    env_check(km, CHECK_INFO_V2, sizeof(CHECK_INFO_V2) - 1, out + ENV2_OFF_CHECK);
    /* The whole header (version, KDF parameters, salt, nonce, check, vault id) is authenticated. */
    aead_xchacha20poly1305_seal(km, out + ENV2_OFF_NONCE, out, hlen, sk, 32, out + hlen, out + hlen + 32);
done:
    secure_zero(km, sizeof(km));
    if (rc != HW_OK) secure_zero(out, ENV2_LEN(vidlen));
    return rc;
}

/* Bounds of a v2 envelope, all checked before the KDF allocates anything (ABI.md). */
static int env2_check_header(const uint8_t *env, size_t envlen) {
    uint32_t m, t;
    size_t vidlen;
    if (envlen < ENV2_MIN_LEN || envlen > ENV2_MAX_LEN) return E_CORRUPT;
    if (env[0] != ENV2_VERSION || env[1] != ENV_KDF_ARGON2ID) return E_CORRUPT;
    vidlen = (size_t)env[ENV2_OFF_VIDLEN] | ((size_t)env[ENV2_OFF_VIDLEN + 1] << 8);
    if (vidlen < 1 || vidlen > VAULT_ID_MAX || envlen != ENV2_LEN(vidlen)) return E_CORRUPT;
    m = load32_le(env + ENV2_OFF_M);
    t = load32_le(env + ENV2_OFF_T);
    if (env[ENV2_OFF_P] != ENV2_P) return E_CORRUPT;
    if (m < ENV2_MIN_M_KIB || m > ENV2_MAX_M_KIB || t < 1 || t > ENV2_MAX_T) return E_CORRUPT;
    if ((uint64_t)m * t > ENV2_MAX_WORK_KIB) return E_CORRUPT;
    return HW_OK;
}

static int envelope_import_v2(const uint8_t *env, size_t envlen, const uint8_t *pw, size_t pwlen,
                              uint8_t sk[32], const uint8_t **src, size_t *srclen) {
    uint8_t km[64], check[16];
    size_t hlen, vidlen;
    int rc = env2_check_header(env, envlen);
    if (rc != HW_OK) return rc;
    vidlen = envlen - ENV2_LEN(0);
    hlen = ENV2_HEADER_LEN(vidlen);
    rc = env2_derive(pw, pwlen, env, km);
    if (rc == E_BAD_INPUT) rc = E_CORRUPT;
    if (rc != HW_OK) goto done;
    env_check(km, CHECK_INFO_V2, sizeof(CHECK_INFO_V2) - 1, check);
    if (!ct_equal(check, env + ENV2_OFF_CHECK, ENV_CHECK_LEN)) {
        rc = E_WRONG_PASSWORD;
        goto done;
    }
    if (aead_xchacha20poly1305_open(km, env + ENV2_OFF_NONCE, env, hlen, env + hlen, 32, env + hlen + 32, sk) != 0) {
        rc = E_CORRUPT;
        goto done;
    }
    *src = env + ENV2_OFF_VID;
    *srclen = vidlen;
done:
    secure_zero(km, sizeof(km));
    secure_zero(check, sizeof(check));
    return rc;
}

/* v1: key material (64) = scrypt(password, salt, N, r, p). */
static int envelope_import_v1(const uint8_t *env, size_t envlen, const uint8_t *pw, size_t pwlen, uint8_t sk[32]) {
    uint8_t km[64], check[16];
    int rc;
    if (envlen != ENV_LEN || env[0] != ENV_VERSION || env[1] != ENV_KDF_SCRYPT) return E_CORRUPT;
    if (env[2] < 15 || env[2] > 20 || env[3] < 1 || env[3] > 16 || env[4] != 1) return E_CORRUPT;
    /* scrypt needs 128 * r * N bytes: refuse more than 32 MiB as corrupt, before allocating
       (ABI.md: 128 * r * N <= 32 MiB), so that v1 imports fit even a vault instance's 64 MiB. */
    if (((uint64_t)128 * env[3]) << env[2] > ((uint64_t)32 << 20)) return E_CORRUPT;
    rc = scrypt_kdf(pw, pwlen, env + 5, ENV_SALT_LEN, env[2], env[3], env[4], km, 64);
    if (rc == E_BAD_INPUT) rc = E_CORRUPT;
    if (rc != HW_OK) goto done;
    env_check(km, CHECK_INFO_V1, sizeof(CHECK_INFO_V1) - 1, check);
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
    return rc;
}

int envelope_import(const uint8_t *env, size_t envlen, const uint8_t *pw, size_t pwlen, uint8_t sk[32],
                    const uint8_t **src, size_t *srclen) {
    int rc;
    memset(sk, 0, 32);
    *src = NULL;
    *srclen = 0;
    if (envlen < 1) return E_CORRUPT;
    if (env[0] == ENV2_VERSION) rc = envelope_import_v2(env, envlen, pw, pwlen, sk, src, srclen);
    else rc = envelope_import_v1(env, envlen, pw, pwlen, sk);
    if (rc != HW_OK) {
        secure_zero(sk, 32);
        *src = NULL;
        *srclen = 0;
    }
    return rc;
}
