#include "scrypt.h"

#include <stdlib.h>

#include "hmac.h"
#include "secure.h"
#include "status.h"

#define R(a, b) (((a) << (b)) | ((a) >> (32 - (b))))

/* Salsa20/8 core, in place on 16 words. */
static void salsa20_8(uint32_t B[16]) {
    uint32_t x[16];
    int i;
    memcpy(x, B, sizeof(x));
    for (i = 0; i < 8; i += 2) {
        x[4] ^= R(x[0] + x[12], 7);   x[8] ^= R(x[4] + x[0], 9);
        x[12] ^= R(x[8] + x[4], 13);  x[0] ^= R(x[12] + x[8], 18);
        x[9] ^= R(x[5] + x[1], 7);    x[13] ^= R(x[9] + x[5], 9);
        x[1] ^= R(x[13] + x[9], 13);  x[5] ^= R(x[1] + x[13], 18);
        x[14] ^= R(x[10] + x[6], 7);  x[2] ^= R(x[14] + x[10], 9);
        x[6] ^= R(x[2] + x[14], 13);  x[10] ^= R(x[6] + x[2], 18);
        x[3] ^= R(x[15] + x[11], 7);  x[7] ^= R(x[3] + x[15], 9);
        x[11] ^= R(x[7] + x[3], 13);  x[15] ^= R(x[11] + x[7], 18);
        x[1] ^= R(x[0] + x[3], 7);    x[2] ^= R(x[1] + x[0], 9);
        x[3] ^= R(x[2] + x[1], 13);   x[0] ^= R(x[3] + x[2], 18);
        x[6] ^= R(x[5] + x[4], 7);    x[7] ^= R(x[6] + x[5], 9);
        x[4] ^= R(x[7] + x[6], 13);   x[5] ^= R(x[4] + x[7], 18);
        x[11] ^= R(x[10] + x[9], 7);  x[8] ^= R(x[11] + x[10], 9);
        x[9] ^= R(x[8] + x[11], 13);  x[10] ^= R(x[9] + x[8], 18);
        x[12] ^= R(x[15] + x[14], 7); x[13] ^= R(x[12] + x[15], 9);
        x[14] ^= R(x[13] + x[12], 13); x[15] ^= R(x[14] + x[13], 18);
    }
    for (i = 0; i < 16; i++) B[i] += x[i];
    secure_zero(x, sizeof(x));
}

/* BlockMix_{Salsa20/8, r}: B (2r blocks of 16 words) -> Y, using X (16 words) as scratch.
 * Output order: even blocks first, then odd (RFC 7914 section 4). */
static void blockmix(const uint32_t *B, uint32_t *Y, uint32_t X[16], uint32_t r) {
    uint32_t i;
    int k;
    memcpy(X, B + (2 * r - 1) * 16, 64);
    for (i = 0; i < 2 * r; i++) {
        for (k = 0; k < 16; k++) X[k] ^= B[i * 16 + k];
        salsa20_8(X);
        memcpy(Y + ((i & 1) ? (r + i / 2) : (i / 2)) * 16, X, 64);
    }
}

/* ROMix on one 128r-byte block given as words (little endian already decoded). */
static void romix(uint32_t *X, uint32_t *Y, uint32_t *V, uint32_t Z[16], uint32_t r, uint64_t N) {
    size_t words = 32 * (size_t)r;
    uint64_t i;
    for (i = 0; i < N; i += 2) {
        memcpy(V + (size_t)i * words, X, words * 4);
        blockmix(X, Y, Z, r);
        memcpy(V + (size_t)(i + 1) * words, Y, words * 4);
        blockmix(Y, X, Z, r);
    }
    for (i = 0; i < N; i += 2) {
        uint64_t j = X[(2 * r - 1) * 16] & (N - 1);
        size_t k;
        const uint32_t *v = V + (size_t)j * words;
        for (k = 0; k < words; k++) X[k] ^= v[k];
        blockmix(X, Y, Z, r);
        j = Y[(2 * r - 1) * 16] & (N - 1);
        v = V + (size_t)j * words;
        for (k = 0; k < words; k++) Y[k] ^= v[k];
        blockmix(Y, X, Z, r);
    }
}

int scrypt_kdf(const uint8_t *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
               unsigned log2n, uint32_t r, uint32_t p, uint8_t *out, size_t outlen) {
    uint64_t N, vbytes, bbytes;
    uint8_t *B = NULL;
    uint32_t *V = NULL, *XY = NULL;
    uint32_t Z[16];
    size_t blen, vlen, xylen, words, k;
    uint32_t i;
    int rc = HW_OK;

    if (log2n < 1 || log2n > 30 || r < 1 || p < 1) return E_BAD_INPUT;
    N = (uint64_t)1 << log2n;
    /* RFC 7914: p <= (2^32 - 1) * 32 / (128 r); keep everything well inside 32-bit sizes. */
    if ((uint64_t)r * (uint64_t)p >= ((uint64_t)1 << 30) / 128) return E_BAD_INPUT;
    bbytes = (uint64_t)128 * r * p;
    vbytes = (uint64_t)128 * r * N;
    if (vbytes > (uint64_t)0x7fffffff || bbytes > (uint64_t)0x7fffffff) return E_NO_MEMORY;
    blen = (size_t)bbytes;
    vlen = (size_t)vbytes;
    words = 32 * (size_t)r;
    xylen = 2 * words * 4;

    B = (uint8_t *)malloc(blen);
    XY = (uint32_t *)malloc(xylen);
    V = (uint32_t *)malloc(vlen);
    if (B == NULL || XY == NULL || V == NULL) {
        rc = E_NO_MEMORY;
        goto done;
    }
    pbkdf2_sha256(pw, pwlen, salt, saltlen, 1, B, blen);
    for (i = 0; i < p; i++) {
        uint8_t *blk = B + (size_t)i * 128 * r;
        for (k = 0; k < words; k++) XY[k] = load32_le(blk + 4 * k);
        romix(XY, XY + words, V, Z, r, N);
        for (k = 0; k < words; k++) store32_le(blk + 4 * k, XY[k]);
    }
    pbkdf2_sha256(pw, pwlen, B, blen, 1, out, outlen);

done:
    if (B != NULL) { secure_zero(B, blen); free(B); }
    if (XY != NULL) { secure_zero(XY, xylen); free(XY); }
    if (V != NULL) { secure_zero(V, vlen); free(V); }
    secure_zero(Z, sizeof(Z));
    return rc;
}
