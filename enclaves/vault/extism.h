/* Host functions of the Extism runtime (module "extism:host/env"). */
#ifndef HWAY_EXTISM_H
#define HWAY_EXTISM_H

#include <stdint.h>

#define EXTISM_IMPORT(name) __attribute__((import_module("extism:host/env"), import_name(name)))

EXTISM_IMPORT("input_length") uint64_t extism_input_length(void);
EXTISM_IMPORT("input_load_u8") uint32_t extism_input_load_u8(uint64_t offs);
EXTISM_IMPORT("input_load_u64") uint64_t extism_input_load_u64(uint64_t offs);
EXTISM_IMPORT("alloc") uint64_t extism_alloc(uint64_t len);
EXTISM_IMPORT("free") void extism_free(uint64_t offs);
EXTISM_IMPORT("length") uint64_t extism_length(uint64_t offs);
EXTISM_IMPORT("load_u8") uint32_t extism_load_u8(uint64_t offs);
EXTISM_IMPORT("load_u64") uint64_t extism_load_u64(uint64_t offs);
EXTISM_IMPORT("store_u8") void extism_store_u8(uint64_t offs, uint32_t v);
EXTISM_IMPORT("store_u64") void extism_store_u64(uint64_t offs, uint64_t v);
EXTISM_IMPORT("output_set") void extism_output_set(uint64_t offs, uint64_t len);
EXTISM_IMPORT("config_get") uint64_t extism_config_get(uint64_t key_offs);

#define EXPORT(name) __attribute__((export_name(name)))

#endif
