/* Argon2id (RFC 9106, version 0x13) over the reference implementation that the `argon2` npm package
 * bundles (node_modules/argon2/argon2, CC0 / Apache-2.0), built without threads: the p lanes are
 * filled one after the other, which gives the same output as p threads. */
#ifndef HWAY_ARGON2ID_H
#define HWAY_ARGON2ID_H

#include <stddef.h>
#include <stdint.h>

/* Parameter ranges this wrapper accepts (the reference code's own, narrowed to what a wasm32
 * enclave can do): 1 <= t, 1 <= p <= 255, 8 * p <= m_kib <= 2^21 (2 GiB), 8 <= saltlen,
 * 4 <= outlen <= 65535, every other length <= 65535.  The work area is m_kib rounded down to a
 * multiple of 4 * p, in KiB, taken in one malloc and zeroised before it is freed.
 * Returns 0, E_BAD_INPUT (a parameter out of range) or E_NO_MEMORY (the work area does not fit in
 * the instance's linear memory). */
int argon2id_kdf(const uint8_t *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
                 const uint8_t *secret, size_t secretlen, const uint8_t *ad, size_t adlen,
                 uint32_t t, uint32_t m_kib, uint32_t p, uint8_t *out, size_t outlen);

#endif
