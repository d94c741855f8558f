#include "chacha20poly1305.h"

#include "secure.h"

#define ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define QR(a, b, c, d)                      \
    a += b; d ^= a; d = ROTL(d, 16);        \
    c += d; b ^= c; b = ROTL(b, 12);        \
    a += b; d ^= a; d = ROTL(d, 8);         \
    c += d; b ^= c; b = ROTL(b, 7)

static void chacha_rounds(uint32_t x[16]) {
    int i;
    for (i = 0; i < 10; i++) {
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
}

static void chacha_setup(uint32_t s[16], const uint8_t key[32]) {
    int i;
    s[0] = 0x61707865; s[1] = 0x3320646e; s[2] = 0x79622d32; s[3] = 0x6b206574;
    for (i = 0; i < 8; i++) s[4 + i] = load32_le(key + 4 * i);
}

void chacha20_xor(const uint8_t key[32], uint32_t counter, const uint8_t nonce[12],
                  const uint8_t *in, uint8_t *out, size_t len) {
    uint32_t s[16], x[16];
    uint8_t ks[64];
    size_t i;
    int k;
    chacha_setup(s, key);
    s[12] = counter;
    s[13] = load32_le(nonce);
    s[14] = load32_le(nonce + 4);
    s[15] = load32_le(nonce + 8);
    while (len > 0) {
        size_t take = len < 64 ? len : 64;
        memcpy(x, s, sizeof(x));
        chacha_rounds(x);
        for (k = 0; k < 16; k++) store32_le(ks + 4 * k, x[k] + s[k]);
        for (i = 0; i < take; i++) out[i] = in[i] ^ ks[i];
        in += take;
        out += take;
        len -= take;
        s[12]++;
    }
    secure_zero(s, sizeof(s));
    secure_zero(x, sizeof(x));
    secure_zero(ks, sizeof(ks));
}

void hchacha20(const uint8_t key[32], const uint8_t nonce16[16], uint8_t out[32]) {
    uint32_t x[16];
    int k;
    chacha_setup(x, key);
    for (k = 0; k < 4; k++) x[12 + k] = load32_le(nonce16 + 4 * k);
    chacha_rounds(x);
    for (k = 0; k < 4; k++) store32_le(out + 4 * k, x[k]);
    for (k = 0; k < 4; k++) store32_le(out + 16 + 4 * k, x[12 + k]);
    secure_zero(x, sizeof(x));
}

/* Poly1305, 26-bit limbs (poly1305-donna-32 style). */
typedef struct {
    uint32_t r[5], h[5], pad[4];
} poly_state;

static void poly_init(poly_state *st, const uint8_t key[32]) {
    st->r[0] = (load32_le(key + 0)) & 0x3ffffff;
    st->r[1] = (load32_le(key + 3) >> 2) & 0x3ffff03;
    st->r[2] = (load32_le(key + 6) >> 4) & 0x3ffc0ff;
    st->r[3] = (load32_le(key + 9) >> 6) & 0x3f03fff;
    st->r[4] = (load32_le(key + 12) >> 8) & 0x00fffff;
    st->h[0] = st->h[1] = st->h[2] = st->h[3] = st->h[4] = 0;
    st->pad[0] = load32_le(key + 16);
    st->pad[1] = load32_le(key + 20);
    st->pad[2] = load32_le(key + 24);
    st->pad[3] = load32_le(key + 28);
}

/* Processes one 16-byte block; hibit = 1 << 24 for full blocks, 0 for the padded final block. */
static void poly_block(poly_state *st, const uint8_t m[16], uint32_t hibit) {
    uint32_t r0 = st->r[0], r1 = st->r[1], r2 = st->r[2], r3 = st->r[3], r4 = st->r[4];
    uint32_t s1 = r1 * 5, s2 = r2 * 5, s3 = r3 * 5, s4 = r4 * 5;
    uint32_t h0 = st->h[0], h1 = st->h[1], h2 = st->h[2], h3 = st->h[3], h4 = st->h[4];
    uint64_t d0, d1, d2, d3, d4;
    uint32_t c;

    h0 += (load32_le(m + 0)) & 0x3ffffff;
    h1 += (load32_le(m + 3) >> 2) & 0x3ffffff;
    h2 += (load32_le(m + 6) >> 4) & 0x3ffffff;
    h3 += (load32_le(m + 9) >> 6) & 0x3ffffff;
    h4 += (load32_le(m + 12) >> 8) | hibit;

    d0 = (uint64_t)h0 * r0 + (uint64_t)h1 * s4 + (uint64_t)h2 * s3 + (uint64_t)h3 * s2 + (uint64_t)h4 * s1;
    d1 = (uint64_t)h0 * r1 + (uint64_t)h1 * r0 + (uint64_t)h2 * s4 + (uint64_t)h3 * s3 + (uint64_t)h4 * s2;
    d2 = (uint64_t)h0 * r2 + (uint64_t)h1 * r1 + (uint64_t)h2 * r0 + (uint64_t)h3 * s4 + (uint64_t)h4 * s3;
    d3 = (uint64_t)h0 * r3 + (uint64_t)h1 * r2 + (uint64_t)h2 * r1 + (uint64_t)h3 * r0 + (uint64_t)h4 * s4;
    d4 = (uint64_t)h0 * r4 + (uint64_t)h1 * r3 + (uint64_t)h2 * r2 + (uint64_t)h3 * r1 + (uint64_t)h4 * r0;

    c = (uint32_t)(d0 >> 26); h0 = (uint32_t)d0 & 0x3ffffff;
    d1 += c; c = (uint32_t)(d1 >> 26); h1 = (uint32_t)d1 & 0x3ffffff;
    d2 += c; c = (uint32_t)(d2 >> 26); h2 = (uint32_t)d2 & 0x3ffffff;
    d3 += c; c = (uint32_t)(d3 >> 26); h3 = (uint32_t)d3 & 0x3ffffff;
    d4 += c; c = (uint32_t)(d4 >> 26); h4 = (uint32_t)d4 & 0x3ffffff;
    h0 += c * 5; c = h0 >> 26; h0 &= 0x3ffffff;
    h1 += c;

    st->h[0] = h0; st->h[1] = h1; st->h[2] = h2; st->h[3] = h3; st->h[4] = h4;
}

static void poly_finish(poly_state *st, uint8_t tag[16]) {
    uint32_t h0 = st->h[0], h1 = st->h[1], h2 = st->h[2], h3 = st->h[3], h4 = st->h[4];
    uint32_t g0, g1, g2, g3, g4, c, mask;
    uint64_t f;

    /* fully carry h */
    c = h1 >> 26; h1 &= 0x3ffffff;
    h2 += c; c = h2 >> 26; h2 &= 0x3ffffff;
    h3 += c; c = h3 >> 26; h3 &= 0x3ffffff;
    h4 += c; c = h4 >> 26; h4 &= 0x3ffffff;
    h0 += c * 5; c = h0 >> 26; h0 &= 0x3ffffff;
    h1 += c;

    /* compute h + -p */
    g0 = h0 + 5; c = g0 >> 26; g0 &= 0x3ffffff;
    g1 = h1 + c; c = g1 >> 26; g1 &= 0x3ffffff;
    g2 = h2 + c; c = g2 >> 26; g2 &= 0x3ffffff;
    g3 = h3 + c; c = g3 >> 26; g3 &= 0x3ffffff;
    g4 = h4 + c - (1UL << 26);

    /* select h if h < p, or h + -p if h >= p */
    mask = (g4 >> 31) - 1;
    g0 &= mask; g1 &= mask; g2 &= mask; g3 &= mask; g4 &= mask;
    mask = ~mask;
    h0 = (h0 & mask) | g0;
    h1 = (h1 & mask) | g1;
    h2 = (h2 & mask) | g2;
    h3 = (h3 & mask) | g3;
    h4 = (h4 & mask) | g4;

    /* h = h % 2^128 */
    h0 = ((h0) | (h1 << 26)) & 0xffffffff;
    h1 = ((h1 >> 6) | (h2 << 20)) & 0xffffffff;
    h2 = ((h2 >> 12) | (h3 << 14)) & 0xffffffff;
    h3 = ((h3 >> 18) | (h4 << 8)) & 0xffffffff;

    /* mac = (h + pad) % 2^128 */
    f = (uint64_t)h0 + st->pad[0]; h0 = (uint32_t)f;
    f = (uint64_t)h1 + st->pad[1] + (f >> 32); h1 = (uint32_t)f;
    f = (uint64_t)h2 + st->pad[2] + (f >> 32); h2 = (uint32_t)f;
    f = (uint64_t)h3 + st->pad[3] + (f >> 32); h3 = (uint32_t)f;

    store32_le(tag + 0, h0);
    store32_le(tag + 4, h1);
    store32_le(tag + 8, h2);
    store32_le(tag + 12, h3);
    secure_zero(st, sizeof(*st));
}

/* MACs the concatenation of the parts, each zero-padded to 16 bytes when `padded`;
 * the generic poly1305() below treats the parts as one contiguous message. */
static void poly_absorb(poly_state *st, uint8_t *pending, size_t *plen, const uint8_t *p, size_t n) {
    if (*plen > 0) {
        size_t take = 16 - *plen;
        if (take > n) take = n;
        memcpy(pending + *plen, p, take);
        *plen += take;
        p += take;
        n -= take;
        if (*plen < 16) return;
        poly_block(st, pending, 1u << 24);
        *plen = 0;
    }
    while (n >= 16) {
        poly_block(st, p, 1u << 24);
        p += 16;
        n -= 16;
    }
    if (n > 0) {
        memcpy(pending, p, n);
        *plen = n;
    }
}

static void poly_flush(poly_state *st, uint8_t *pending, size_t plen) {
    if (plen > 0) {
        pending[plen] = 1;
        memset(pending + plen + 1, 0, 16 - plen - 1);
        poly_block(st, pending, 0);
    }
}

void poly1305(const uint8_t key[32], const uint8_t *parts[], const size_t lens[], int nparts,
              uint8_t tag[16]) {
    poly_state st;
    uint8_t pending[16];
    size_t plen = 0;
    int i;
    poly_init(&st, key);
    for (i = 0; i < nparts; i++) poly_absorb(&st, pending, &plen, parts[i], lens[i]);
    poly_flush(&st, pending, plen);
    poly_finish(&st, tag);
    secure_zero(pending, sizeof(pending));
}

/* RFC 8439 section 2.8 tag over aad || pad16 || ct || pad16 || len(aad) || len(ct). */
static void aead_tag(const uint8_t polykey[32], const uint8_t *aad, size_t aadlen,
                     const uint8_t *ct, size_t len, uint8_t tag[16]) {
    static const uint8_t zeros[16] = {0};
    uint8_t lens[16];
    const uint8_t *parts[5];
    size_t plens[5];
    int k;
    for (k = 0; k < 8; k++) lens[k] = (uint8_t)((uint64_t)aadlen >> (8 * k));
    for (k = 0; k < 8; k++) lens[8 + k] = (uint8_t)((uint64_t)len >> (8 * k));
    parts[0] = aad; plens[0] = aadlen;
    parts[1] = zeros; plens[1] = (16 - (aadlen % 16)) % 16;
    parts[2] = ct; plens[2] = len;
    parts[3] = zeros; plens[3] = (16 - (len % 16)) % 16;
    parts[4] = lens; plens[4] = 16;
    poly1305(polykey, parts, plens, 5, tag);
}

static void poly_key(const uint8_t key[32], const uint8_t nonce[12], uint8_t pk[32]) {
    static const uint8_t zeros[32] = {0};
    chacha20_xor(key, 0, nonce, zeros, pk, 32);
}

void aead_chacha20poly1305_seal(const uint8_t key[32], const uint8_t nonce[12],
                                const uint8_t *aad, size_t aadlen,
                                const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16]) {
    uint8_t pk[32];
    poly_key(key, nonce, pk);
    chacha20_xor(key, 1, nonce, pt, ct, len);
    aead_tag(pk, aad, aadlen, ct, len, tag);
    secure_zero(pk, sizeof(pk));
}

int aead_chacha20poly1305_open(const uint8_t key[32], const uint8_t nonce[12],
                               const uint8_t *aad, size_t aadlen,
                               const uint8_t *ct, size_t len, const uint8_t tag[16], uint8_t *pt) {
    uint8_t pk[32], calc[16];
    int ok;
    poly_key(key, nonce, pk);
    aead_tag(pk, aad, aadlen, ct, len, calc);
    ok = ct_equal(calc, tag, 16);
    secure_zero(pk, sizeof(pk));
    secure_zero(calc, sizeof(calc));
    if (!ok) {
        if (len > 0) secure_zero(pt, len);
        return -1;
    }
    chacha20_xor(key, 1, nonce, ct, pt, len);
    return 0;
}

static void xchacha_subkey(const uint8_t key[32], const uint8_t nonce[24], uint8_t sub[32],
                           uint8_t n12[12]) {
    hchacha20(key, nonce, sub);
    memset(n12, 0, 4);
    memcpy(n12 + 4, nonce + 16, 8);
}

void aead_xchacha20poly1305_seal(const uint8_t key[32], const uint8_t nonce[24],
                                 const uint8_t *aad, size_t aadlen,
                                 const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16]) {
    uint8_t sub[32], n12[12];
    xchacha_subkey(key, nonce, sub, n12);
    aead_chacha20poly1305_seal(sub, n12, aad, aadlen, pt, len, ct, tag);
    secure_zero(sub, sizeof(sub));
}

int aead_xchacha20poly1305_open(const uint8_t key[32], const uint8_t nonce[24],
                                const uint8_t *aad, size_t aadlen,
                                const uint8_t *ct, size_t len, const uint8_t tag[16], uint8_t *pt) {
    uint8_t sub[32], n12[12];
    int rc;
    xchacha_subkey(key, nonce, sub, n12);
    rc = aead_chacha20poly1305_open(sub, n12, aad, aadlen, ct, len, tag, pt);
    secure_zero(sub, sizeof(sub));
    return rc;
}
