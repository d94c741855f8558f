/* Master keys from the Extism configuration (ABI.md, "Configuration"). */
#ifndef HWAY_CONFIG_H
#define HWAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_KEYS 64

/* Loads the configuration on first call (later calls return the cached result).
 * Returns 0, E_CONFIG or E_NO_MEMORY (the latter is not cached). */
int config_load(void);
/* After a successful config_load: the current key id and its key. */
uint32_t config_current_id(void);
/* Returns the 32-byte master key with this id, or NULL when the enclave was not given it. */
const uint8_t *config_key(uint32_t id);

/* Pure parser, exposed for clarity: fills ids/keys, returns the count or -1. */
int config_parse_keys(const char *s, size_t n, uint32_t *ids, uint8_t (*keys)[32], int max);
int config_parse_u32(const char *s, size_t n, uint32_t *out);

#endif
