/* secp256k1 operations on top of libsecp256k1, with lazily created contexts. */
#ifndef HWAY_KEYS_H
#define HWAY_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define VERIFY_FLAG_ALLOW_HIGH_S 0x01
#define VERIFY_FLAG_DER 0x02

/* All return 0 or a status code (E_RNG, E_NO_MEMORY, E_INTERNAL, ...). */
int keys_generate(uint8_t sk[32]);
/* Sets *valid to 1 when sk is a valid secret key (0 < sk < n), else 0; returns 0 or a status. */
int keys_seckey_valid(const uint8_t sk[32], int *valid);
int keys_pubkey(const uint8_t sk[32], uint8_t pub[33]);
int keys_sign(const uint8_t sk[32], const uint8_t digest[32], uint8_t sig[64], uint8_t *recid);
int keys_verify(const uint8_t *pub, size_t publen, const uint8_t digest[32],
                const uint8_t *sig, size_t siglen, unsigned flags, int *valid);

/* Returns 1 (and clears it) when libsecp256k1 reported an illegal argument or internal error. */
int keys_take_error(void);

#endif
