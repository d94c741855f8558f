/* ChaCha20 and Poly1305 (RFC 8439), HChaCha20 and XChaCha20-Poly1305
 * (draft-irtf-cfrg-xchacha). */
#ifndef HWAY_CHACHA20POLY1305_H
#define HWAY_CHACHA20POLY1305_H

#include <stddef.h>
#include <stdint.h>

/* out = in XOR keystream(key, nonce, starting at block `counter`). in may equal out. */
void chacha20_xor(const uint8_t key[32], uint32_t counter, const uint8_t nonce[12],
                  const uint8_t *in, uint8_t *out, size_t len);
void hchacha20(const uint8_t key[32], const uint8_t nonce16[16], uint8_t out[32]);
void poly1305(const uint8_t key[32], const uint8_t *parts[], const size_t lens[], int nparts,
              uint8_t tag[16]);

/* Seal: ct (len bytes) and tag (16) written separately; ct may equal pt. */
void aead_chacha20poly1305_seal(const uint8_t key[32], const uint8_t nonce[12],
                                const uint8_t *aad, size_t aadlen,
                                const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16]);
/* Open: returns 0 and writes pt when the tag verifies, -1 otherwise (pt is then zeroed). */
int aead_chacha20poly1305_open(const uint8_t key[32], const uint8_t nonce[12],
                               const uint8_t *aad, size_t aadlen,
                               const uint8_t *ct, size_t len, const uint8_t tag[16], uint8_t *pt);
void aead_xchacha20poly1305_seal(const uint8_t key[32], const uint8_t nonce[24],
                                 const uint8_t *aad, size_t aadlen,
                                 const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16]);
int aead_xchacha20poly1305_open(const uint8_t key[32], const uint8_t nonce[24],
                                const uint8_t *aad, size_t aadlen,
                                const uint8_t *ct, size_t len, const uint8_t tag[16], uint8_t *pt);

#endif
