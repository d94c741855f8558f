/* Input and output frames of the vault ABI (ABI.md, "Frames"). */
#ifndef HWAY_FRAME_H
#define HWAY_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_VERSION 0x01
#define FRAME_MAX_INPUT 70000u
#define FRAME_MAX_FIELDS 8
#define FRAME_MAX_FIELD_LEN 65535u

typedef struct {
    const uint8_t *ptr;
    size_t len;
} field_t;

typedef struct {
    uint8_t *buf;   /* malloc'd copy of the whole input, zeroised by frame_in_free */
    size_t len;
    field_t f[FRAME_MAX_FIELDS];
} frame_in_t;

/* Copies the Extism input and parses it; exactly `count` fields are expected.
 * Returns 0, E_BAD_INPUT or E_NO_MEMORY. Always call frame_in_free afterwards. */
int frame_in_read(frame_in_t *in, unsigned count);
void frame_in_free(frame_in_t *in);

/* Pure parser, used by frame_in_read. */
int frame_parse(const uint8_t *buf, size_t len, unsigned count, field_t *out);

/* Sets the output frame: status 0 with n fields. A field longer than 65535
 * bytes makes it an E_INTERNAL frame instead. */
void frame_out_ok(const field_t *fields, unsigned n);
/* Sets an output frame with a non-zero status and no fields. */
void frame_out_status(int status);

#endif
