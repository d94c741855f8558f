/* libsecp256k1 as one translation unit, from the secp256k1@5.0.2 npm package's bundled
 * sources (node_modules/secp256k1/src/secp256k1). Configured by build.sh's -D flags. */
#include "src/secp256k1.c"
