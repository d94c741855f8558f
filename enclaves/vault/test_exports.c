/* Test-only exports (ABI.md, "Test-only exports"); compiled in with -DHWAY_TEST_EXPORTS. */
#ifdef HWAY_TEST_EXPORTS

#include <stdlib.h>

#include "argon2id.h"
#include "chacha20poly1305.h"
#include "extism.h"
#include "hmac.h"
#include "plugin.h"
#include "scrypt.h"
#include "seal.h"
#include "secure.h"
#include "sha256.h"
#include "status.h"

/* Not in ABI.md: bounds that keep a fuzzed test export from running for hours. */
#define T_PBKDF2_MAX_ITERATIONS 1000000u
#define T_SCRYPT_MAX_LOG2N 20u
#define T_SCRYPT_MAX_R 32u
#define T_SCRYPT_MAX_P 16u
#define T_ARGON2_MAX_T 16u
#define T_ARGON2_MAX_M_KIB (16u * 1024u)
#define T_ARGON2_MAX_P 16u

static uint16_t u16le(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint8_t *heap_out(result_t *res, size_t len) {
    res->heap = (uint8_t *)malloc(len ? len : 1);
    if (res->heap == NULL) return NULL;
    res->heaplen = len ? len : 1;
    return res->heap;
}

static int op_sha256(const field_t *in, result_t *res) {
    uint8_t *d = result_add(res, NULL, 32);
    if (d == NULL) return E_INTERNAL;
    sha256(in[0].ptr, in[0].len, d);
    return HW_OK;
}

static int op_hmac(const field_t *in, result_t *res) {
    uint8_t *d = result_add(res, NULL, 32);
    if (d == NULL) return E_INTERNAL;
    hmac_sha256(in[0].ptr, in[0].len, in[1].ptr, in[1].len, d);
    return HW_OK;
}

static int op_hkdf(const field_t *in, result_t *res) {
    size_t len;
    uint8_t *o;
    if (in[3].len != 2) return E_BAD_INPUT;
    len = u16le(in[3].ptr);
    if (len > 255 * 32) return E_BAD_INPUT;
    if ((o = heap_out(res, len)) == NULL) return E_NO_MEMORY;
    if (hkdf_sha256(in[0].ptr, in[0].len, in[1].ptr, in[1].len, in[2].ptr, in[2].len, o, len) != 0)
        return E_BAD_INPUT;
    result_add_ref(res, o, len);
    return HW_OK;
}

static int op_pbkdf2(const field_t *in, result_t *res) {
    size_t len;
    uint32_t it;
    uint8_t *o;
    if (in[2].len != 4 || in[3].len != 2) return E_BAD_INPUT;
    it = load32_le(in[2].ptr);
    len = u16le(in[3].ptr);
    if (it < 1 || it > T_PBKDF2_MAX_ITERATIONS) return E_BAD_INPUT;
    if ((o = heap_out(res, len)) == NULL) return E_NO_MEMORY;
    pbkdf2_sha256(in[0].ptr, in[0].len, in[1].ptr, in[1].len, it, o, len);
    result_add_ref(res, o, len);
    return HW_OK;
}

static int op_scrypt(const field_t *in, result_t *res) {
    size_t len;
    unsigned log2n, r, p;
    uint8_t *o;
    int rc;
    if (in[2].len != 1 || in[3].len != 1 || in[4].len != 1 || in[5].len != 2) return E_BAD_INPUT;
    log2n = in[2].ptr[0];
    r = in[3].ptr[0];
    p = in[4].ptr[0];
    len = u16le(in[5].ptr);
    if (log2n < 1 || log2n > T_SCRYPT_MAX_LOG2N || r < 1 || r > T_SCRYPT_MAX_R || p < 1 ||
        p > T_SCRYPT_MAX_P)
        return E_BAD_INPUT;
    if ((o = heap_out(res, len)) == NULL) return E_NO_MEMORY;
    rc = scrypt_kdf(in[0].ptr, in[0].len, in[1].ptr, in[1].len, log2n, r, p, o, len);
    if (rc != HW_OK) return rc;
    result_add_ref(res, o, len);
    return HW_OK;
}

/* password, salt, secret, ad, t (u32 LE), m in KiB (u32 LE), p (u8), length (u16 LE) -> tag. */
static int op_argon2id(const field_t *in, result_t *res) {
    size_t len;
    uint32_t t, m, p;
    uint8_t *o;
    int rc;
    if (in[4].len != 4 || in[5].len != 4 || in[6].len != 1 || in[7].len != 2) return E_BAD_INPUT;
    t = load32_le(in[4].ptr);
    m = load32_le(in[5].ptr);
    p = in[6].ptr[0];
    len = u16le(in[7].ptr);
    if (t > T_ARGON2_MAX_T || m > T_ARGON2_MAX_M_KIB || p > T_ARGON2_MAX_P) return E_BAD_INPUT;
    if ((o = heap_out(res, len)) == NULL) return E_NO_MEMORY;
    rc = argon2id_kdf(in[0].ptr, in[0].len, in[1].ptr, in[1].len, in[2].ptr, in[2].len, in[3].ptr,
                      in[3].len, t, m, p, o, len);
    if (rc != HW_OK) return rc;
    result_add_ref(res, o, len);
    return HW_OK;
}

/* private key (32), vault id, password, m KiB (u32 LE), t (u32 LE) -> a v2 envelope written by the
 * production code path with these parameters (small ones, so that a test can open it on the host). */
static int op_envelope_v2(const field_t *in, result_t *res) {
    uint8_t *env;
    if (in[0].len != 32 || in[1].len < 1 || in[1].len > VAULT_ID_MAX || in[3].len != 4 || in[4].len != 4)
        return E_BAD_INPUT;
    if (load32_le(in[3].ptr) > T_ARGON2_MAX_M_KIB) return E_BAD_INPUT;
    env = result_add(res, NULL, ENV2_LEN(in[1].len));
    if (env == NULL) return E_INTERNAL;
    return envelope_export_with(in[0].ptr, in[1].ptr, in[1].len, in[2].ptr, in[2].len, load32_le(in[3].ptr),
                                load32_le(in[4].ptr), env);
}

static int aead(const field_t *in, result_t *res, int x, int seal) {
    size_t nlen = x ? 24 : 12, len;
    uint8_t *o;
    if (in[0].len != 32 || in[1].len != nlen) return E_BAD_INPUT;
    if (seal) {
        len = in[3].len;
        if (len + 16 > FRAME_MAX_FIELD_LEN) return E_BAD_INPUT;
        if ((o = heap_out(res, len + 16)) == NULL) return E_NO_MEMORY;
        if (x)
            aead_xchacha20poly1305_seal(in[0].ptr, in[1].ptr, in[2].ptr, in[2].len, in[3].ptr, len, o, o + len);
        else
            aead_chacha20poly1305_seal(in[0].ptr, in[1].ptr, in[2].ptr, in[2].len, in[3].ptr, len, o, o + len);
        result_add_ref(res, o, len + 16);
    } else {
        int rc;
        if (in[3].len < 16) return E_CORRUPT;
        len = in[3].len - 16;
        if ((o = heap_out(res, len)) == NULL) return E_NO_MEMORY;
        if (x)
            rc = aead_xchacha20poly1305_open(in[0].ptr, in[1].ptr, in[2].ptr, in[2].len, in[3].ptr, len,
                                             in[3].ptr + len, o);
        else
            rc = aead_chacha20poly1305_open(in[0].ptr, in[1].ptr, in[2].ptr, in[2].len, in[3].ptr, len,
                                            in[3].ptr + len, o);
        if (rc != 0) return E_CORRUPT;
        result_add_ref(res, o, len);
    }
    return HW_OK;
}

static int op_c_seal(const field_t *in, result_t *res) { return aead(in, res, 0, 1); }
static int op_c_open(const field_t *in, result_t *res) { return aead(in, res, 0, 0); }
static int op_x_seal(const field_t *in, result_t *res) { return aead(in, res, 1, 1); }
static int op_x_open(const field_t *in, result_t *res) { return aead(in, res, 1, 0); }

EXPORT("t_sha256") int32_t t_sha256(void) { return run_export(1, op_sha256); }
EXPORT("t_hmac_sha256") int32_t t_hmac_sha256(void) { return run_export(2, op_hmac); }
EXPORT("t_hkdf_sha256") int32_t t_hkdf_sha256(void) { return run_export(4, op_hkdf); }
EXPORT("t_pbkdf2_sha256") int32_t t_pbkdf2_sha256(void) { return run_export(4, op_pbkdf2); }
EXPORT("t_scrypt") int32_t t_scrypt(void) { return run_export(6, op_scrypt); }
EXPORT("t_argon2id") int32_t t_argon2id(void) { return run_export(8, op_argon2id); }
EXPORT("t_envelope_v2") int32_t t_envelope_v2(void) { return run_export(5, op_envelope_v2); }
EXPORT("t_chacha20poly1305_seal") int32_t t_c_seal(void) { return run_export(4, op_c_seal); }
EXPORT("t_chacha20poly1305_open") int32_t t_c_open(void) { return run_export(4, op_c_open); }
EXPORT("t_xchacha20poly1305_seal") int32_t t_x_seal(void) { return run_export(4, op_x_seal); }
EXPORT("t_xchacha20poly1305_open") int32_t t_x_open(void) { return run_export(4, op_x_open); }

EXPORT("t_spin") int32_t t_spin(void) {
    volatile uint32_t n = 0;
    for (;;) n++;
    return 0;
}

EXPORT("t_trap") int32_t t_trap(void) {
    __builtin_trap();
    return 0;
}

#else
typedef int hway_test_exports_disabled;
#endif
