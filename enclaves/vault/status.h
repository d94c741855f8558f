/* Status codes of the vault ABI (ABI.md). */
#ifndef HWAY_STATUS_H
#define HWAY_STATUS_H

enum {
    HW_OK = 0,
    E_BAD_INPUT = 1,
    E_CORRUPT = 2,
    E_WRONG_PASSWORD = 3,
    E_KEY_RETIRED = 4,
    E_INVALID_KEY = 5,
    E_CONFIG = 6,
    E_RNG = 7,
    E_NO_MEMORY = 8,
    E_INTERNAL = 9,
    E_FORBIDDEN = 10 /* ABI 3: the seal is bound to another account than the request's */
};

#endif
