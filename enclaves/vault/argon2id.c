#include "argon2id.h"

#include "argon2.h"
#include "secure.h"
#include "status.h"

#define ARGON2ID_MAX_LEN 65535u
#define ARGON2ID_MAX_LANES 255u
#define ARGON2ID_MAX_M_KIB (UINT32_C(1) << 21)

int argon2id_kdf(const uint8_t *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
                 const uint8_t *secret, size_t secretlen, const uint8_t *ad, size_t adlen,
                 uint32_t t, uint32_t m_kib, uint32_t p, uint8_t *out, size_t outlen) {
    argon2_context ctx;
    int rc;
    if (t < 1 || p < 1 || p > ARGON2ID_MAX_LANES || m_kib < 8 * p || m_kib > ARGON2ID_MAX_M_KIB)
        return E_BAD_INPUT;
    if (saltlen < ARGON2_MIN_SALT_LENGTH || outlen < ARGON2_MIN_OUTLEN || outlen > ARGON2ID_MAX_LEN ||
        pwlen > ARGON2ID_MAX_LEN || saltlen > ARGON2ID_MAX_LEN || secretlen > ARGON2ID_MAX_LEN ||
        adlen > ARGON2ID_MAX_LEN)
        return E_BAD_INPUT;
    memset(&ctx, 0, sizeof(ctx));
    ctx.out = out;
    ctx.outlen = (uint32_t)outlen;
    /* The reference API takes non-const pointers; it writes through them only with the
       ARGON2_FLAG_CLEAR_* flags, which are not set. */
    ctx.pwd = (uint8_t *)(uintptr_t)pw;
    ctx.pwdlen = (uint32_t)pwlen;
    ctx.salt = (uint8_t *)(uintptr_t)salt;
    ctx.saltlen = (uint32_t)saltlen;
    ctx.secret = (uint8_t *)(uintptr_t)secret;
    ctx.secretlen = (uint32_t)secretlen;
    ctx.ad = (uint8_t *)(uintptr_t)ad;
    ctx.adlen = (uint32_t)adlen;
    ctx.t_cost = t;
    ctx.m_cost = m_kib;
    ctx.lanes = p;
    ctx.threads = p; /* built with ARGON2_NO_THREADS: lanes run one after the other */
    ctx.version = ARGON2_VERSION_13;
    ctx.flags = ARGON2_DEFAULT_FLAGS;
    rc = argon2_ctx(&ctx, Argon2_id);
    secure_zero(&ctx, sizeof(ctx));
    if (rc == ARGON2_OK) return HW_OK;
    secure_zero(out, outlen);
    return rc == ARGON2_MEMORY_ALLOCATION_ERROR ? E_NO_MEMORY : E_BAD_INPUT;
}
