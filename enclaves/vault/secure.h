/* Helpers for handling secrets: a zeroisation the compiler cannot elide and a
 * constant-time comparison. */
#ifndef HWAY_SECURE_H
#define HWAY_SECURE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void secure_zero(void *p, size_t n) {
    if (p == NULL || n == 0) return;
    memset(p, 0, n);
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

/* Returns 1 when equal, 0 otherwise; time depends only on n. */
static inline int ct_equal(const uint8_t *a, const uint8_t *b, size_t n) {
    uint32_t d = 0;
    size_t i;
    for (i = 0; i < n; i++) d |= (uint32_t)(a[i] ^ b[i]);
    __asm__ __volatile__("" : "+r"(d));
    return (int)((d - 1) >> 31) & 1;
}

static inline void store32_le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t load32_le(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void store32_be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline uint32_t load32_be(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

#endif
