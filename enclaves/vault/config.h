/* Master keys, handed over by the host through the set_master_keys export (ABI.md, "Master keys"). */
#ifndef HWAY_CONFIG_H
#define HWAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_KEYS 64
#define CONFIG_ENTRY_LEN 36 /* key id (u32 LE) || key (32) */

/* Returns 0 once the host has handed over the master keys, else E_CONFIG. */
int config_load(void);
/* After a successful config_load: the current key id. */
uint32_t config_current_id(void);
/* Returns the 32-byte master key with this id, or NULL when the enclave was not given it. */
const uint8_t *config_key(uint32_t id);

/* Takes the ring (n x CONFIG_ENTRY_LEN bytes, 1 <= n <= CONFIG_MAX_KEYS, ids distinct) and the
 * current id (u32 LE, one of the ring's). Once per instance: a second call, or a malformed ring,
 * is E_CONFIG and changes nothing. */
int config_set_keys(const uint8_t *current, size_t curlen, const uint8_t *ring, size_t len);

#endif
