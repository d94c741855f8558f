#include "hmac.h"

#include "secure.h"

void hmac_sha256_init(hmac_sha256_ctx *c, const uint8_t *key, size_t keylen) {
    uint8_t k[64], pad[64];
    int i;
    memset(k, 0, sizeof(k));
    if (keylen > 64) {
        sha256(key, keylen, k);
    } else if (keylen > 0) {
        memcpy(k, key, keylen);
    }
    for (i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
    sha256_init(&c->inner);
    sha256_update(&c->inner, pad, 64);
    for (i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
    sha256_init(&c->outer);
    sha256_update(&c->outer, pad, 64);
    secure_zero(k, sizeof(k));
    secure_zero(pad, sizeof(pad));
}

void hmac_sha256_update(hmac_sha256_ctx *c, const uint8_t *p, size_t n) {
    sha256_update(&c->inner, p, n);
}

void hmac_sha256_final(hmac_sha256_ctx *c, uint8_t out[32]) {
    uint8_t ih[32];
    sha256_final(&c->inner, ih);
    sha256_update(&c->outer, ih, 32);
    sha256_final(&c->outer, out);
    secure_zero(ih, sizeof(ih));
    secure_zero(c, sizeof(*c));
}

void hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t n, uint8_t out[32]) {
    hmac_sha256_ctx c;
    hmac_sha256_init(&c, key, keylen);
    hmac_sha256_update(&c, msg, n);
    hmac_sha256_final(&c, out);
}

int hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
                const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen) {
    uint8_t prk[32], t[32], zero[32];
    size_t done = 0, tlen = 0;
    uint8_t ctr = 1;
    hmac_sha256_ctx c;
    if (outlen > 255 * 32) return -1;
    if (saltlen == 0) {
        memset(zero, 0, sizeof(zero));
        salt = zero;
        saltlen = 32;
    }
    hmac_sha256(salt, saltlen, ikm, ikmlen, prk);
    while (done < outlen) {
        size_t take;
        hmac_sha256_init(&c, prk, 32);
        hmac_sha256_update(&c, t, tlen);
        hmac_sha256_update(&c, info, infolen);
        hmac_sha256_update(&c, &ctr, 1);
        hmac_sha256_final(&c, t);
        tlen = 32;
        take = outlen - done < 32 ? outlen - done : 32;
        memcpy(out + done, t, take);
        done += take;
        ctr++;
    }
    secure_zero(prk, sizeof(prk));
    secure_zero(t, sizeof(t));
    return 0;
}

void pbkdf2_sha256(const uint8_t *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
                   uint32_t iterations, uint8_t *out, size_t outlen) {
    hmac_sha256_ctx base, c;
    uint8_t u[32], t[32], be[4];
    uint32_t block = 1, it;
    size_t done = 0;
    int k;
    hmac_sha256_init(&base, pw, pwlen);
    while (done < outlen) {
        size_t take;
        store32_be(be, block);
        c = base;
        hmac_sha256_update(&c, salt, saltlen);
        hmac_sha256_update(&c, be, 4);
        hmac_sha256_final(&c, u);
        memcpy(t, u, 32);
        for (it = 1; it < iterations; it++) {
            c = base;
            hmac_sha256_update(&c, u, 32);
            hmac_sha256_final(&c, u);
            for (k = 0; k < 32; k++) t[k] ^= u[k];
        }
        take = outlen - done < 32 ? outlen - done : 32;
        memcpy(out + done, t, take);
        done += take;
        block++;
    }
    secure_zero(&base, sizeof(base));
    secure_zero(&c, sizeof(c));
    secure_zero(u, sizeof(u));
    secure_zero(t, sizeof(t));
}
