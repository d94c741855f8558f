#!/usr/bin/env bash
# Builds the vault enclave: enclaves/vault.wasm (production) and enclaves/vault-test.wasm
# (same sources + -DHWAY_TEST_EXPORTS), deterministically, plus their .sha256 files.
#   bash enclaves/vault/build.sh           build and write the committed files
#   bash enclaves/vault/build.sh --check   build in a temp dir, compare byte-for-byte
# Needs clang, wasm-ld and wasi-libc for wasm32-wasi
# (Debian: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32).
set -euo pipefail

CHECK=0
case "${1:-}" in
  --check) CHECK=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"                       # every path below is relative to the repository root
export LC_ALL=C SOURCE_DATE_EPOCH=0 ZERO_AR_DATE=1

CC="${CC:-clang}"
SECP=node_modules/secp256k1/src/secp256k1
SRCS="frame.c sha256.c hmac.c scrypt.c chacha20poly1305.c config.c seal.c keys.c plugin.c test_exports.c"

# ---- toolchain checks, with the package that provides what is missing ----
missing=()
command -v "$CC" >/dev/null 2>&1 || missing+=("clang (Debian package: clang)")
command -v wasm-ld >/dev/null 2>&1 || command -v wasm-ld-14 >/dev/null 2>&1 || missing+=("wasm-ld (Debian package: lld)")
command -v "${HOSTCC:-cc}" >/dev/null 2>&1 || missing+=("a native C compiler for libsecp256k1's table generator (Debian package: gcc)")
if [ ${#missing[@]} -eq 0 ]; then
  probe="$(mktemp -d)"
  trap 'rm -rf "$probe"' EXIT
  printf '#include <string.h>\n#include <wasi/api.h>\nint f(char*p,unsigned long long n){return (int)__wasi_random_get((unsigned char*)p,(unsigned long)n)+(int)strlen(p);}\n' > "$probe/p.c"
  if ! "$CC" --target=wasm32-wasi -c -o "$probe/p.o" "$probe/p.c" 2>"$probe/err"; then
    missing+=("wasi-libc headers for wasm32-wasi (Debian package: wasi-libc): $(head -1 "$probe/err")")
  elif ! "$CC" --target=wasm32-wasi -mexec-model=reactor -o "$probe/p.wasm" "$probe/p.o" 2>"$probe/err"; then
    if grep -q 'clang_rt\|builtins' "$probe/err"; then
      missing+=("compiler-rt builtins for wasm32 (Debian package: libclang-rt-dev-wasm32)")
    elif grep -qi 'unable to find library\|crt1\|-lc' "$probe/err"; then
      missing+=("wasi-libc for wasm32-wasi (Debian package: wasi-libc)")
    else
      missing+=("a working wasm32-wasi link: $(head -3 "$probe/err" | tr '\n' ' ')")
    fi
  fi
  rm -rf "$probe"
  trap - EXIT
fi
[ -f "$SECP/src/secp256k1.c" ] || missing+=("$SECP/src/secp256k1.c (run npm install: package secp256k1@5.0.2)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "build.sh: cannot build the vault enclave, missing:" >&2
  for m in "${missing[@]}"; do echo "  - $m" >&2; done
  exit 1
fi

# ---- flags ----
COMMON=(--target=wasm32-wasi -O2 -std=c11
  -ffile-prefix-map="$ROOT"=. -fdebug-prefix-map="$ROOT"=.
  -Wall -Wextra -Werror=implicit-function-declaration)
SECP_DEFS=(-DSECP256K1_BUILD -DUSE_NUM_NONE -DUSE_FIELD_10X26 -DUSE_SCALAR_8X32
  -DUSE_FIELD_INV_BUILTIN -DUSE_SCALAR_INV_BUILTIN -DENABLE_MODULE_RECOVERY
  -DECMULT_WINDOW_SIZE=15 -DECMULT_GEN_PREC_BITS=4 -DUSE_EXTERNAL_DEFAULT_CALLBACKS
  -DUSE_ECMULT_STATIC_PRECOMPUTATION)
LDFLAGS=(-mexec-model=reactor -Wl,--strip-all -Wl,--max-memory=67108864 -Wl,-z,stack-size=262144 -Wl,--stack-first)

# libsecp256k1's signing table (ECMULT_GEN_PREC_BITS=4: 64 KiB) is precomputed here by its own
# gen_context.c, built for this machine, and compiled into the wasm as constant data. Built at run
# time instead, every vault instance would touch ~210 KiB of stack temporaries on its first
# signature, which is most of the 256 KiB per-instance budget.
gen_static_context() { # $1 = directory that receives src/ecmult_static_context.h
  local dir="$1"
  mkdir -p "$dir/src"
  "${HOSTCC:-cc}" -O1 -w -DECMULT_GEN_PREC_BITS=4 -DUSE_NUM_NONE -DUSE_FIELD_10X26 -DUSE_SCALAR_8X32 \
    -DUSE_FIELD_INV_BUILTIN -DUSE_SCALAR_INV_BUILTIN -I"$SECP" -I"$SECP/src" \
    "$SECP/src/gen_context.c" -o "$dir/gen_context"
  (cd "$dir" && ./gen_context)
}

build_one() { # $1 = output wasm, $2 = object dir, rest = extra cflags
  local out="$1" obj="$2"; shift 2
  local objs=() s
  mkdir -p "$obj"
  for s in $SRCS; do
    "$CC" "${COMMON[@]}" -fno-ident "$@" -I"$SECP" -c "enclaves/vault/$s" -o "$obj/${s%.c}.o"
    objs+=("$obj/${s%.c}.o")
  done
  "$CC" "${COMMON[@]}" -fno-ident "$@" "${SECP_DEFS[@]}" -I"$SECP" -I"$SECP/src" -I"$TMP/gen/src" -w \
    -c enclaves/vault/secp256k1_unit.c -o "$obj/secp256k1_unit.o"
  objs+=("$obj/secp256k1_unit.o")
  "$CC" "${COMMON[@]}" "${LDFLAGS[@]}" -o "$out" "${objs[@]}"
}

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
gen_static_context "$TMP/gen"
build_one "$TMP/vault.wasm" "$TMP/obj-prod"
build_one "$TMP/vault-test.wasm" "$TMP/obj-test" -DHWAY_TEST_EXPORTS
for w in vault vault-test; do
  sha256sum "$TMP/$w.wasm" | cut -d' ' -f1 > "$TMP/$w.wasm.sha256"
done
# The host's pins (enclaves/pins.ts) are generated too, so they cannot drift from the built files.
cat > "$TMP/pins.ts" <<EOT
// SHA-256 of the committed enclave plugins; written by enclaves/vault/build.sh. The host refuses to
// load a plugin whose hash differs (E_PLUGIN_INTEGRITY).
export const PINS = {
  'vault.wasm': '$(cat "$TMP/vault.wasm.sha256")',
  'vault-test.wasm': '$(cat "$TMP/vault-test.wasm.sha256")',
} as const;
EOT

if [ "$CHECK" = 1 ]; then
  bad=0
  for f in vault.wasm vault-test.wasm vault.wasm.sha256 vault-test.wasm.sha256 pins.ts; do
    if [ ! -f "enclaves/$f" ]; then
      echo "build.sh --check: enclaves/$f is missing" >&2; bad=1
    elif ! cmp -s "$TMP/$f" "enclaves/$f"; then
      echo "build.sh --check: enclaves/$f differs from what the sources build" >&2; bad=1
    fi
  done
  if [ "$bad" = 1 ]; then
    echo "build.sh --check: FAILED (run bash enclaves/vault/build.sh and commit the result)" >&2
    exit 1
  fi
  echo "build.sh --check: enclaves/vault.wasm and enclaves/vault-test.wasm match the sources"
  exit 0
fi

for f in vault.wasm vault-test.wasm vault.wasm.sha256 vault-test.wasm.sha256 pins.ts; do
  cp "$TMP/$f" "enclaves/$f"
done
for w in vault vault-test; do
  echo "enclaves/$w.wasm  $(wc -c < "enclaves/$w.wasm") bytes  sha256 $(cat "enclaves/$w.wasm.sha256")"
done
