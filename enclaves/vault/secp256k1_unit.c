/* libsecp256k1 as one translation unit, from the secp256k1@5.0.2 npm package's bundled
 * sources (node_modules/secp256k1/src/secp256k1) with secp256k1-ct.patch applied to a copy
 * (build.sh). Configured by build.sh's -D flags. */
#include "src/secp256k1.c"

#ifdef HWAY_TEST_EXPORTS
/* Test build only (keys.c's t_sign_context): a fingerprint of the signing context's blinding, so that
 * a test can see it change when the context is re-randomized. Never in the production plugin. */
void hway_secp256k1_blinding_fingerprint(const secp256k1_context *ctx, unsigned char out[32]);
void hway_secp256k1_blinding_fingerprint(const secp256k1_context *ctx, unsigned char out[32]) {
    secp256k1_sha256 h;
    secp256k1_sha256_initialize(&h);
    secp256k1_sha256_write(&h, (const unsigned char *)&ctx->ecmult_gen_ctx.blind, sizeof(ctx->ecmult_gen_ctx.blind));
    secp256k1_sha256_write(&h, (const unsigned char *)&ctx->ecmult_gen_ctx.initial, sizeof(ctx->ecmult_gen_ctx.initial));
    secp256k1_sha256_finalize(&h, out);
}
#endif
