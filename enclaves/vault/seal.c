#include "seal.h"

#include <wasi/api.h>

#include "argon2id.h"
#include "chacha20poly1305.h"
#include "config.h"
#include "hmac.h"
#include "scrypt.h"
#include "secure.h"
#include "status.h"

/* The per-vault AEAD key's label, for both seal formats (the version byte in the associated data
 * keeps them apart). */
static const char VAULT_INFO[] = "hway/vault/v1";
static const char ACCOUNT_INFO[] = "hway/vault/account/v2";
static const char CHECK_INFO_V1[] = "hway/export/check/v1";
static const char CHECK_INFO_V2[] = "hway/export/check/v2";

/* Associated data of a v2 seal: header (25) || vault id length (u16 LE) || vault id || account. The
 * length prefix makes the split between vault id and account unambiguous. */
#define AAD_V2_MAX (SEALED_HEADER_LEN + 2 + VAULT_ID_MAX + ACCOUNT_MAX)

int rng_fill(uint8_t *buf, size_t len) {
    if (len == 0) return HW_OK;
    if (__wasi_random_get(buf, len) != 0) {
        secure_zero(buf, len);
        return E_RNG;
    }
    return HW_OK;
}

static int binding_ok(const binding_t *b) {
    return b->vidlen >= 1 && b->vidlen <= VAULT_ID_MAX && b->acctlen >= 1 && b->acctlen <= ACCOUNT_MAX;
}

static void vault_key(const uint8_t master[32], const uint8_t *vid, size_t vidlen, uint8_t key[32]) {
    hkdf_sha256(master, 32, vid, vidlen, (const uint8_t *)VAULT_INFO, sizeof(VAULT_INFO) - 1, key, 32);
}

/* A v2 seal's account check: HKDF-SHA256(ikm = master key, no salt, info = ACCOUNT_INFO || account),
 * 16 bytes. It exists so that a request of another account gets E_FORBIDDEN, not the E_CORRUPT of a
 * failed tag (the AEAD alone cannot say which input was wrong); the associated data binds the account
 * regardless, so a forged check gains nothing. Keyed by the master key, not the vault: the wrong vault
 * id with the right account stays E_CORRUPT. Equal checks show equal accounts, which the record's
 * plain `account` field shows anyway. */
static void account_check(const uint8_t master[32], const binding_t *b, uint8_t check[SEALED_CHECK_LEN]) {
    uint8_t info[sizeof(ACCOUNT_INFO) - 1 + ACCOUNT_MAX];
    memcpy(info, ACCOUNT_INFO, sizeof(ACCOUNT_INFO) - 1);
    memcpy(info + sizeof(ACCOUNT_INFO) - 1, b->acct, b->acctlen);
    hkdf_sha256(master, 32, NULL, 0, info, sizeof(ACCOUNT_INFO) - 1 + b->acctlen, check, SEALED_CHECK_LEN);
}

static size_t aad_v2(const uint8_t head[SEALED_HEADER_LEN], const binding_t *b, uint8_t aad[AAD_V2_MAX]) {
    memcpy(aad, head, SEALED_HEADER_LEN);
    aad[SEALED_HEADER_LEN] = (uint8_t)b->vidlen;
    aad[SEALED_HEADER_LEN + 1] = (uint8_t)(b->vidlen >> 8);
    memcpy(aad + SEALED_HEADER_LEN + 2, b->vid, b->vidlen);
    memcpy(aad + SEALED_HEADER_LEN + 2 + b->vidlen, b->acct, b->acctlen);
    return SEALED_HEADER_LEN + 2 + b->vidlen + b->acctlen;
}

/* Associated data of a v1 seal: header (9) || vault id. */
static size_t aad_v1(const uint8_t head[9], const binding_t *b, uint8_t aad[AAD_V2_MAX]) {
    memcpy(aad, head, 9);
    memcpy(aad + 9, b->vid, b->vidlen);
    return 9 + b->vidlen;
}

int vault_seal(uint32_t key_id, uint32_t epoch, const binding_t *b, const uint8_t sk[32],
               uint8_t out[SEALED_LEN]) {
    const uint8_t *master = config_key(key_id);
    uint8_t key[32], aad[AAD_V2_MAX];
    size_t aadlen;
    int rc;
    if (master == NULL) return E_KEY_RETIRED;
    if (!binding_ok(b)) return E_BAD_INPUT;
    out[0] = SEALED_VERSION;
    store32_le(out + 1, key_id);
    store32_le(out + 5, epoch);
    account_check(master, b, out + 9);
    rc = rng_fill(out + SEALED_HEADER_LEN, 24);
    if (rc != HW_OK) return rc;
    aadlen = aad_v2(out, b, aad);
    vault_key(master, b->vid, b->vidlen, key);
    aead_xchacha20poly1305_seal(key, out + SEALED_HEADER_LEN, aad, aadlen, sk, 32, out + SEALED_HEADER_LEN + 24,
                                out + SEALED_HEADER_LEN + 56);
    secure_zero(key, sizeof(key));
    return HW_OK;
}

int vault_open(const uint8_t *sealed, size_t sealedlen, const binding_t *b, uint8_t sk[32],
               uint32_t *key_id, uint32_t *epoch) {
    const uint8_t *master, *nonce;
    uint8_t key[32], check[SEALED_CHECK_LEN], aad[AAD_V2_MAX];
    size_t aadlen;
    uint32_t id;
    int rc, v2;
    memset(sk, 0, 32);
    if (!binding_ok(b)) return E_BAD_INPUT;
    if (sealedlen == SEALED_LEN && sealed[0] == SEALED_VERSION) v2 = 1;
    else if (sealedlen == SEALED_V1_LEN && sealed[0] == SEALED_V1_VERSION) v2 = 0;
    else return E_CORRUPT;
    id = load32_le(sealed + 1);
    master = config_key(id);
    if (master == NULL) return E_KEY_RETIRED;
    if (v2) {
        account_check(master, b, check);
        rc = ct_equal(check, sealed + 9, SEALED_CHECK_LEN);
        secure_zero(check, sizeof(check));
        if (!rc) return E_FORBIDDEN;
        aadlen = aad_v2(sealed, b, aad);
        nonce = sealed + SEALED_HEADER_LEN;
    } else {
        /* v1 binds no account, so it opens for any: until a refresh re-seals it as v2, the host's
         * check of the record's account is all that keeps other accounts out. */
        aadlen = aad_v1(sealed, b, aad);
        nonce = sealed + 9;
    }
    vault_key(master, b->vid, b->vidlen, key);
    rc = aead_xchacha20poly1305_open(key, nonce, aad, aadlen, nonce + 24, 32, nonce + 56, sk);
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
