#include "config.h"

#include <stdlib.h>

#include "extism.h"
#include "secure.h"
#include "status.h"

static int g_state = 0; /* 0 = not loaded, 1 = ok, -1 = E_CONFIG */
static int g_count = 0;
static uint32_t g_ids[CONFIG_MAX_KEYS];
static uint8_t g_keys[CONFIG_MAX_KEYS][32];
static uint32_t g_current = 0;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void trim(const char **s, size_t *n) {
    while (*n > 0 && is_space((*s)[0])) { (*s)++; (*n)--; }
    while (*n > 0 && is_space((*s)[*n - 1])) (*n)--;
}

int config_parse_u32(const char *s, size_t n, uint32_t *out) {
    uint64_t v = 0;
    size_t i;
    trim(&s, &n);
    if (n == 0 || n > 10) return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > 0xffffffffull) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int config_parse_keys(const char *s, size_t n, uint32_t *ids, uint8_t (*keys)[32], int max) {
    int count = 0;
    size_t pos = 0;
    while (pos <= n) {
        size_t end = pos, colon, i, hlen;
        const char *item, *hex;
        uint32_t id;
        int j;
        while (end < n && s[end] != ',') end++;
        item = s + pos;
        colon = 0;
        while (pos + colon < end && item[colon] != ':') colon++;
        if (pos + colon >= end) return -1;
        if (config_parse_u32(item, colon, &id) != 0) return -1;
        hex = item + colon + 1;
        hlen = end - (pos + colon + 1);
        trim(&hex, &hlen);
        if (hlen != 64 || count >= max) return -1;
        for (j = 0; j < count; j++) if (ids[j] == id) return -1;
        for (i = 0; i < 32; i++) {
            int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
            if (hi < 0 || lo < 0) return -1;
            keys[count][i] = (uint8_t)((hi << 4) | lo);
        }
        ids[count++] = id;
        pos = end + 1;
    }
    return count;
}

/* Reads config value `name`; *out is malloc'd (caller zeroises and frees). The host's copy
 * of the value is overwritten with zeros before it is freed.
 * Returns 0, 1 when absent, or E_NO_MEMORY. */
static int read_config(const char *name, char **out, size_t *outlen) {
    size_t nlen = strlen(name), i;
    uint64_t koff, voff, vlen;
    char *buf;
    *out = NULL;
    *outlen = 0;
    koff = extism_alloc(nlen);
    if (koff == 0) return E_NO_MEMORY;
    for (i = 0; i < nlen; i++) extism_store_u8(koff + i, (uint8_t)name[i]);
    voff = extism_config_get(koff);
    extism_free(koff);
    if (voff == 0) return 1;
    vlen = extism_length(voff);
    if (vlen > 1000000) { /* absurd: treat as malformed */
        for (i = 0; i < (size_t)vlen; i++) extism_store_u8(voff + i, 0);
        extism_free(voff);
        *outlen = (size_t)-1;
        return 0;
    }
    buf = (char *)malloc((size_t)vlen + 1);
    if (buf == NULL) {
        extism_free(voff);
        return E_NO_MEMORY;
    }
    for (i = 0; i < (size_t)vlen; i++) {
        buf[i] = (char)extism_load_u8(voff + i);
        extism_store_u8(voff + i, 0);
    }
    buf[vlen] = 0;
    extism_free(voff);
    *out = buf;
    *outlen = (size_t)vlen;
    return 0;
}

static void drop(char *p, size_t n) {
    if (p != NULL) {
        secure_zero(p, n + 1);
        free(p);
    }
}

int config_load(void) {
    char *keys = NULL, *cur = NULL;
    size_t klen = 0, clen = 0;
    int rc, i, found = 0, n;

    if (g_state == 1) return HW_OK;
    if (g_state == -1) return E_CONFIG;

    rc = read_config("hway_master_keys", &keys, &klen);
    if (rc == E_NO_MEMORY) goto out;
    if (rc == 1 || keys == NULL) { rc = E_CONFIG; goto out; }
    rc = read_config("hway_current_key", &cur, &clen);
    if (rc == E_NO_MEMORY) goto out;
    if (rc == 1 || cur == NULL) { rc = E_CONFIG; goto out; }

    n = config_parse_keys(keys, klen, g_ids, g_keys, CONFIG_MAX_KEYS);
    if (n <= 0 || config_parse_u32(cur, clen, &g_current) != 0) { rc = E_CONFIG; goto out; }
    for (i = 0; i < n; i++) if (g_ids[i] == g_current) found = 1;
    if (!found) { rc = E_CONFIG; goto out; }
    g_count = n;
    rc = HW_OK;

out:
    drop(keys, klen);
    drop(cur, clen);
    if (rc == HW_OK) {
        g_state = 1;
    } else if (rc == E_CONFIG) {
        g_state = -1;
        g_count = 0;
        g_current = 0;
        secure_zero(g_keys, sizeof(g_keys));
        secure_zero(g_ids, sizeof(g_ids));
    }
    return rc;
}

uint32_t config_current_id(void) { return g_current; }

const uint8_t *config_key(uint32_t id) {
    int i;
    if (g_state != 1) return NULL;
    for (i = 0; i < g_count; i++) if (g_ids[i] == id) return g_keys[i];
    return NULL;
}
