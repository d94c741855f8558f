#include "frame.h"

#include <stdlib.h>

#include "extism.h"
#include "secure.h"
#include "status.h"

int frame_parse(const uint8_t *buf, size_t len, unsigned count, field_t *out) {
    size_t pos = 2;
    unsigned i;
    if (count > FRAME_MAX_FIELDS) return E_INTERNAL;
    if (len < 2 || len > FRAME_MAX_INPUT) return E_BAD_INPUT;
    if (buf[0] != FRAME_VERSION || buf[1] != count) return E_BAD_INPUT;
    for (i = 0; i < count; i++) {
        size_t flen;
        if (len - pos < 2) return E_BAD_INPUT;
        flen = (size_t)buf[pos] | ((size_t)buf[pos + 1] << 8);
        pos += 2;
        if (len - pos < flen) return E_BAD_INPUT;
        out[i].ptr = buf + pos;
        out[i].len = flen;
        pos += flen;
    }
    if (pos != len) return E_BAD_INPUT;
    return HW_OK;
}

int frame_in_read(frame_in_t *in, unsigned count) {
    uint64_t len64 = extism_input_length();
    size_t len, i;
    memset(in, 0, sizeof(*in));
    if (len64 < 2 || len64 > FRAME_MAX_INPUT) return E_BAD_INPUT;
    len = (size_t)len64;
    in->buf = (uint8_t *)malloc(len);
    if (in->buf == NULL) return E_NO_MEMORY;
    in->len = len;
    for (i = 0; i + 8 <= len; i += 8) {
        uint64_t v = extism_input_load_u64((uint64_t)i);
        int k;
        for (k = 0; k < 8; k++) in->buf[i + k] = (uint8_t)(v >> (8 * k));
        v = 0;
    }
    for (; i < len; i++) in->buf[i] = (uint8_t)extism_input_load_u8((uint64_t)i);
    return frame_parse(in->buf, in->len, count, in->f);
}

void frame_in_free(frame_in_t *in) {
    if (in->buf != NULL) {
        secure_zero(in->buf, in->len);
        free(in->buf);
    }
    memset(in, 0, sizeof(*in));
}

/* Writes `len` bytes at extism offset `off`. */
static void put_bytes(uint64_t off, const uint8_t *p, size_t len) {
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = 0;
        int k;
        for (k = 7; k >= 0; k--) v = (v << 8) | p[i + (size_t)k];
        extism_store_u64(off + i, v);
    }
    for (; i < len; i++) extism_store_u8(off + i, p[i]);
}

static void set_output(const uint8_t head[3], const field_t *fields, unsigned n) {
    uint64_t total = 3, off, pos;
    unsigned i;
    for (i = 0; i < n; i++) total += 2 + (uint64_t)fields[i].len;
    off = extism_alloc(total);
    if (off == 0) return; /* nothing we can report: the host sees no output */
    put_bytes(off, head, 3);
    pos = off + 3;
    for (i = 0; i < n; i++) {
        uint8_t l[2];
        l[0] = (uint8_t)fields[i].len;
        l[1] = (uint8_t)(fields[i].len >> 8);
        put_bytes(pos, l, 2);
        pos += 2;
        put_bytes(pos, fields[i].ptr, fields[i].len);
        pos += fields[i].len;
    }
    extism_output_set(off, total);
}

void frame_out_status(int status) {
    uint8_t head[3];
    head[0] = FRAME_VERSION;
    head[1] = (uint8_t)status;
    head[2] = 0;
    set_output(head, NULL, 0);
}

void frame_out_ok(const field_t *fields, unsigned n) {
    uint8_t head[3];
    unsigned i;
    if (n > 255) { frame_out_status(E_INTERNAL); return; }
    for (i = 0; i < n; i++) {
        if (fields[i].len > FRAME_MAX_FIELD_LEN) { frame_out_status(E_INTERNAL); return; }
    }
    head[0] = FRAME_VERSION;
    head[1] = 0;
    head[2] = (uint8_t)n;
    set_output(head, fields, n);
}
