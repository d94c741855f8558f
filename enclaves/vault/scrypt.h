/* scrypt (RFC 7914): Salsa20/8 core, BlockMix, ROMix, over PBKDF2-HMAC-SHA256. */
#ifndef HWAY_SCRYPT_H
#define HWAY_SCRYPT_H

#include <stddef.h>
#include <stdint.h>

/* N = 2^log2n. Requires 1 <= log2n <= 30, r >= 1, p >= 1 and r * p < 2^23
   (checked, else E_BAD_INPUT); 128 * r * N above 2^31 - 1 or a failed malloc is E_NO_MEMORY.
 * Returns 0, E_BAD_INPUT on parameters out of range or E_NO_MEMORY.
 * All working memory is zeroised before it is freed. */
int scrypt_kdf(const uint8_t *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
               unsigned log2n, uint32_t r, uint32_t p, uint8_t *out, size_t outlen);

#endif
