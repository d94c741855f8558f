/* Master keys (ABI.md, "Master keys"). The host hands them over as bytes, once per instance, by
 * calling the set_master_keys export right after it creates the instance; they are never part of
 * the Extism configuration (whose strings the host could neither zero nor keep out of its workers'
 * start-up data). They live only here, in this instance's linear memory. */
#include "config.h"

#include "extism.h"
#include "plugin.h"
#include "secure.h"
#include "status.h"

static int g_count = 0; /* 0: no keys yet */
static uint32_t g_ids[CONFIG_MAX_KEYS];
static uint8_t g_keys[CONFIG_MAX_KEYS][32];
static uint32_t g_current = 0;

int config_set_keys(const uint8_t *current, size_t curlen, const uint8_t *ring, size_t len) {
    size_t n, i, j;
    uint32_t cur;
    int found = 0;
    if (g_count != 0) return E_CONFIG;
    if (curlen != 4 || len == 0 || len % CONFIG_ENTRY_LEN != 0) return E_CONFIG;
    n = len / CONFIG_ENTRY_LEN;
    if (n > CONFIG_MAX_KEYS) return E_CONFIG;
    cur = load32_le(current);
    for (i = 0; i < n; i++) {
        uint32_t id = load32_le(ring + i * CONFIG_ENTRY_LEN);
        for (j = 0; j < i; j++)
            if (load32_le(ring + j * CONFIG_ENTRY_LEN) == id) return E_CONFIG;
        if (id == cur) found = 1;
    }
    if (!found) return E_CONFIG;
    for (i = 0; i < n; i++) {
        g_ids[i] = load32_le(ring + i * CONFIG_ENTRY_LEN);
        memcpy(g_keys[i], ring + i * CONFIG_ENTRY_LEN + 4, 32);
    }
    g_current = cur;
    g_count = (int)n;
    return HW_OK;
}

int config_load(void) { return g_count > 0 ? HW_OK : E_CONFIG; }

uint32_t config_current_id(void) { return g_current; }

const uint8_t *config_key(uint32_t id) {
    int i;
    for (i = 0; i < g_count; i++) if (g_ids[i] == id) return g_keys[i];
    return NULL;
}

/* set_master_keys: current key id (u32 LE), ring -> -. run_export zeroises its copy of the input
 * frame and the stack; the host zeroises the input buffer it passed. */
static int op_set_master_keys(const field_t *in, result_t *res) {
    (void)res;
    return config_set_keys(in[0].ptr, in[0].len, in[1].ptr, in[1].len);
}

EXPORT("set_master_keys") int32_t x_set_master_keys(void) { return run_export(2, op_set_master_keys); }
