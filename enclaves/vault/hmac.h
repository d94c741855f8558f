/* HMAC-SHA256 (RFC 2104), HKDF-SHA256 (RFC 5869), PBKDF2-HMAC-SHA256 (RFC 8018). */
#ifndef HWAY_HMAC_H
#define HWAY_HMAC_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

typedef struct {
    sha256_ctx inner;
    sha256_ctx outer;
} hmac_sha256_ctx;

void hmac_sha256_init(hmac_sha256_ctx *c, const uint8_t *key, size_t keylen);
void hmac_sha256_update(hmac_sha256_ctx *c, const uint8_t *p, size_t n);
void hmac_sha256_final(hmac_sha256_ctx *c, uint8_t out[32]); /* zeroises the context */
void hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t n, uint8_t out[32]);

/* Returns 0, or -1 when outlen > 255 * 32. */
int hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
                const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen);

/* iterations >= 1. */
void pbkdf2_sha256(const uint8_t *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
                   uint32_t iterations, uint8_t *out, size_t outlen);

#endif
