/* Shared plumbing of the exports: one input frame in, one output frame out. */
#ifndef HWAY_PLUGIN_H
#define HWAY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* ABI.md's version, reported by `info`: 2 since export envelope v2 (Argon2id), 3 since sealed data v2
 * (the account in the associated data; every export that seals or opens takes the account). */
#define ABI_VERSION 3

typedef struct {
    field_t f[FRAME_MAX_FIELDS];
    unsigned n;
    uint8_t buf[512];   /* small outputs */
    uint8_t *heap;      /* large outputs (test exports), zeroised and freed by run_export */
    size_t heaplen;
} result_t;

typedef int (*op_fn)(const field_t *in, result_t *res);

/* Reads a frame of `count` fields, runs op, writes the output frame. Returns 0. */
int32_t run_export(unsigned count, op_fn op);

/* Appends a field pointing at `len` bytes of res->buf (copied from p when p != NULL);
 * returns the pointer to the bytes in res->buf or NULL when it does not fit. */
uint8_t *result_add(result_t *res, const uint8_t *p, size_t len);
/* Appends a field pointing at external memory that outlives the result (e.g. res->heap). */
void result_add_ref(result_t *res, const uint8_t *p, size_t len);

#ifdef HWAY_TEST_EXPORTS
/* Test build only (ABI.md): `export` with this password never returns, like t_spin. */
#define T_SPIN_PASSWORD "t_spin: never finishes"
int32_t t_spin(void);
#endif

#endif
