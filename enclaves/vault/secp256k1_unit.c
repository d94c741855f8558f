/* libsecp256k1 as one translation unit: the 0.5.0 release's sources (build.sh fetches and checks the
 * tarball), configured by build.sh's -D flags, with its precomputed tables for signing (the comb
 * table for COMB_BLOCKS x COMB_TEETH) and verification (window ECMULT_WINDOW_SIZE). */
#include "src/secp256k1.c"
#include "src/precomputed_ecmult.c"
#include "src/precomputed_ecmult_gen.c"

#ifdef HWAY_TEST_EXPORTS
/* Test build only (keys.c's t_sign_context): a fingerprint of the signing context's blinding, so that
 * a test can see it change when the context is re-randomized. Never in the production plugin. */
void hway_secp256k1_blinding_fingerprint(const secp256k1_context *ctx, unsigned char out[32]);
void hway_secp256k1_blinding_fingerprint(const secp256k1_context *ctx, unsigned char out[32]) {
    secp256k1_sha256 h;
    secp256k1_sha256_initialize(&h);
    secp256k1_sha256_write(&h, (const unsigned char *)&ctx->ecmult_gen_ctx.scalar_offset, sizeof(ctx->ecmult_gen_ctx.scalar_offset));
    secp256k1_sha256_write(&h, (const unsigned char *)&ctx->ecmult_gen_ctx.ge_offset, sizeof(ctx->ecmult_gen_ctx.ge_offset));
    secp256k1_sha256_write(&h, (const unsigned char *)&ctx->ecmult_gen_ctx.proj_blind, sizeof(ctx->ecmult_gen_ctx.proj_blind));
    secp256k1_sha256_finalize(&h, out);
}
#endif
