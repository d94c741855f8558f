#include "keys.h"

#include <stdlib.h>

#include "include/secp256k1.h"
#include "include/secp256k1_preallocated.h"
#include "include/secp256k1_recovery.h"
#include "extism.h"
#include "plugin.h"
#include "seal.h"
#include "secure.h"
#include "status.h"

static secp256k1_context *g_sign = NULL;
static secp256k1_context *g_verify = NULL;
static volatile int g_secp_error = 0;

/* libsecp256k1 blinds every multiplication of the generator by a secret (a signature's nonce, a
 * public key's private key) with a random scalar and a random projective point kept in the signing
 * context. They are seeded from fresh random bytes when the context is created and re-seeded every
 * KEYS_RERANDOMIZE_EVERY such multiplications, so that a side-channel attack that needs many traces
 * under one blinding gets at most that many from one instance. A re-seed costs about one signature. */
#define KEYS_RERANDOMIZE_EVERY 1000u
static uint32_t g_secret_uses = 0;    /* generator multiplications by a secret since the last seed */
static uint32_t g_randomizations = 0; /* seeds so far, the one at creation included */

static void on_secp_error(const char *msg, void *data) {
    (void)msg;
    (void)data;
    g_secp_error = 1;
}

/* Built with USE_EXTERNAL_DEFAULT_CALLBACKS: libsecp256k1's defaults would abort(). */
void secp256k1_default_illegal_callback_fn(const char *msg, void *data) { on_secp_error(msg, data); }
void secp256k1_default_error_callback_fn(const char *msg, void *data) { on_secp_error(msg, data); }

int keys_take_error(void) {
    int e = g_secp_error;
    g_secp_error = 0;
    return e;
}

static int make_context(unsigned flags, secp256k1_context **out) {
    size_t size = secp256k1_context_preallocated_size(flags);
    void *mem;
    secp256k1_context *ctx;
    if (size == 0) return E_INTERNAL;
    mem = malloc(size);
    if (mem == NULL) return E_NO_MEMORY;
    ctx = secp256k1_context_preallocated_create(mem, flags);
    if (ctx == NULL) {
        free(mem);
        return E_INTERNAL;
    }
    secp256k1_context_set_illegal_callback(ctx, on_secp_error, NULL);
    secp256k1_context_set_error_callback(ctx, on_secp_error, NULL);
    *out = ctx;
    return HW_OK;
}

/* Re-seeds the context's blinding from 32 fresh random bytes (mixed with the previous blinding). */
static int randomize(secp256k1_context *ctx) {
    uint8_t seed[32];
    int rc = rng_fill(seed, sizeof(seed));
    if (rc == HW_OK && !secp256k1_context_randomize(ctx, seed)) rc = E_INTERNAL;
    secure_zero(seed, sizeof(seed));
    if (rc == HW_OK) {
        g_secret_uses = 0;
        g_randomizations++;
    }
    return rc;
}

static int sign_ctx(secp256k1_context **out) {
    secp256k1_context *ctx = NULL;
    int rc;
    if (g_sign != NULL) { *out = g_sign; return HW_OK; }
    rc = make_context(SECP256K1_CONTEXT_NONE, &ctx);
    if (rc == HW_OK) rc = randomize(ctx);
    if (rc != HW_OK) {
        if (ctx != NULL) {
            secp256k1_context_preallocated_destroy(ctx);
            free(ctx);
        }
        return rc;
    }
    g_sign = ctx;
    *out = ctx;
    return HW_OK;
}

/* The signing context for one multiplication of the generator by a secret, re-seeded first when
 * KEYS_RERANDOMIZE_EVERY of them have used the current seed. A failed re-seed fails the operation
 * (E_RNG) and is tried again by the next one. */
static int secret_ctx(secp256k1_context **out) {
    int rc = sign_ctx(out);
    if (rc != HW_OK) return rc;
    if (g_secret_uses >= KEYS_RERANDOMIZE_EVERY && (rc = randomize(*out)) != HW_OK) return rc;
    g_secret_uses++;
    return HW_OK;
}

/* Since libsecp256k1 0.2 a context holds no tables (they are static data), so both are created with
 * SECP256K1_CONTEXT_NONE; verification keeps its own context so that it never touches the signing
 * blinding or its use count. */
static int verify_ctx(secp256k1_context **out) {
    int rc;
    if (g_verify == NULL) {
        rc = make_context(SECP256K1_CONTEXT_NONE, &g_verify);
        if (rc != HW_OK) return rc;
    }
    *out = g_verify;
    return HW_OK;
}

int keys_seckey_valid(const uint8_t sk[32], int *valid) {
    secp256k1_context *ctx;
    int rc = sign_ctx(&ctx);
    if (rc != HW_OK) return rc;
    *valid = secp256k1_ec_seckey_verify(ctx, sk) == 1;
    return HW_OK;
}

int keys_generate(uint8_t sk[32]) {
    secp256k1_context *ctx;
    int rc = sign_ctx(&ctx), tries;
    if (rc != HW_OK) return rc;
    for (tries = 0; tries < 128; tries++) {
        rc = rng_fill(sk, 32);
        if (rc != HW_OK) return rc;
        if (secp256k1_ec_seckey_verify(ctx, sk) == 1) return HW_OK;
    }
    secure_zero(sk, 32);
    return E_INTERNAL;
}

int keys_pubkey(const uint8_t sk[32], uint8_t pub[33]) {
    secp256k1_context *ctx;
    secp256k1_pubkey pk;
    size_t len = 33;
    int rc = secret_ctx(&ctx);
    if (rc != HW_OK) return rc;
    if (secp256k1_ec_pubkey_create(ctx, &pk, sk) != 1) return E_INVALID_KEY;
    if (secp256k1_ec_pubkey_serialize(ctx, pub, &len, &pk, SECP256K1_EC_COMPRESSED) != 1 || len != 33)
        return E_INTERNAL;
    return HW_OK;
}

int keys_sign(const uint8_t sk[32], const uint8_t digest[32], uint8_t sig[64], uint8_t *recid) {
    secp256k1_context *ctx;
    secp256k1_ecdsa_recoverable_signature rs;
    int rc = secret_ctx(&ctx), id = -1;
    if (rc != HW_OK) return rc;
    if (secp256k1_ecdsa_sign_recoverable(ctx, &rs, digest, sk, NULL, NULL) != 1) {
        rc = E_INVALID_KEY;
    } else if (secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig, &id, &rs) != 1 ||
               id < 0 || id > 3) {
        rc = E_INTERNAL;
    } else {
        *recid = (uint8_t)id;
    }
    secure_zero(&rs, sizeof(rs));
    return rc;
}

int keys_verify(const uint8_t *pub, size_t publen, const uint8_t digest[32],
                const uint8_t *sig, size_t siglen, unsigned flags, int *valid) {
    secp256k1_context *ctx;
    secp256k1_pubkey pk;
    secp256k1_ecdsa_signature s;
    int rc;
    *valid = 0;
    /* SEC1 compressed (02/03, 33 bytes) or uncompressed (04, 65 bytes) only; no hybrid keys. */
    if (!((publen == 33 && (pub[0] == 0x02 || pub[0] == 0x03)) || (publen == 65 && pub[0] == 0x04)))
        return HW_OK;
    if (!(flags & VERIFY_FLAG_DER) && siglen != 64) return HW_OK;
    rc = verify_ctx(&ctx);
    if (rc != HW_OK) return rc;
    if (secp256k1_ec_pubkey_parse(ctx, &pk, pub, publen) != 1) return HW_OK;
    if (flags & VERIFY_FLAG_DER) {
        if (siglen == 0 || secp256k1_ecdsa_signature_parse_der(ctx, &s, sig, siglen) != 1) return HW_OK;
    } else {
        if (secp256k1_ecdsa_signature_parse_compact(ctx, &s, sig) != 1) return HW_OK;
    }
    if (flags & VERIFY_FLAG_ALLOW_HIGH_S) secp256k1_ecdsa_signature_normalize(ctx, &s, &s);
    *valid = secp256k1_ecdsa_verify(ctx, &s, digest, &pk) == 1;
    return HW_OK;
}

#ifdef HWAY_TEST_EXPORTS
/* Test build only (secp256k1_unit.c): SHA-256 of the context's blinding scalar and point. */
void hway_secp256k1_blinding_fingerprint(const secp256k1_context *ctx, uint8_t out[32]);

/* t_sign_context: - -> seeds so far (u32 LE), uses of the current seed (u32 LE), re-seed interval
 * (u32 LE), blinding fingerprint (32, or 0 bytes before the signing context exists). */
static int op_t_sign_context(const field_t *in, result_t *res) {
    uint8_t n[4], *fp;
    (void)in;
    store32_le(n, g_randomizations);
    result_add(res, n, 4);
    store32_le(n, g_secret_uses);
    result_add(res, n, 4);
    store32_le(n, KEYS_RERANDOMIZE_EVERY);
    result_add(res, n, 4);
    if (g_sign == NULL) {
        result_add(res, NULL, 0);
    } else {
        if ((fp = result_add(res, NULL, 32)) == NULL) return E_INTERNAL;
        hway_secp256k1_blinding_fingerprint(g_sign, fp);
    }
    return HW_OK;
}

EXPORT("t_sign_context") int32_t t_sign_context(void) { return run_export(0, op_t_sign_context); }
#endif
