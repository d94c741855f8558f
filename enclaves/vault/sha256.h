/* SHA-256 (FIPS 180-4). */
#ifndef HWAY_SHA256_H
#define HWAY_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BLOCK 64
#define SHA256_LEN 32

typedef struct {
    uint32_t h[8];
    uint64_t total;      /* bytes processed */
    uint8_t buf[64];
    size_t buflen;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const uint8_t *p, size_t n);
void sha256_final(sha256_ctx *c, uint8_t out[32]); /* zeroises the context */
void sha256(const uint8_t *p, size_t n, uint8_t out[32]);

#endif
