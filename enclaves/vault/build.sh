#!/usr/bin/env bash
# Builds the vault enclave: enclaves/vault.wasm (production) and enclaves/vault-test.wasm
# (same sources + -DHWAY_TEST_EXPORTS), deterministically, plus their .sha256 files. Each is linked
# twice from the same objects: vault*.wasm with the small linear-memory cap of long-lived vault
# instances, and vault-kdf*.wasm with the large cap of the one-shot export/import instances, whose
# Argon2id work area is 256 MiB by default and up to 1 GiB (ABI.md, "Memory").
#   bash enclaves/vault/build.sh           build and write the committed files
#   bash enclaves/vault/build.sh --check   build in a temp dir, compare byte-for-byte
#   bash enclaves/vault/build.sh --ct-objects DIR   only libsecp256k1's object, unstripped, as it goes
#       into vault.wasm (DIR/secp256k1_unit.o), and the same without secp256k1-ct.patch
#       (DIR/secp256k1_unit.unpatched.o): spec/enclave-constant-time.test.ts disassembles them
# Needs clang, wasm-ld and wasi-libc for wasm32-wasi
# (Debian: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32).
set -euo pipefail

CHECK=0
CT_OBJECTS=""
case "${1:-}" in
  --check) CHECK=1 ;;
  --ct-objects) [ -n "${2:-}" ] || { echo "usage: $0 --ct-objects DIR" >&2; exit 2; }; CT_OBJECTS="$(mkdir -p "$2" && cd "$2" && pwd)" ;;
  "") ;;
  *) echo "usage: $0 [--check | --ct-objects DIR]" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"                       # every path below is relative to the repository root
export LC_ALL=C SOURCE_DATE_EPOCH=0 ZERO_AR_DATE=1

CC="${CC:-clang}"
SECP=node_modules/secp256k1/src/secp256k1
SRCS="frame.c sha256.c hmac.c scrypt.c argon2id.c chacha20poly1305.c config.c seal.c keys.c plugin.c test_exports.c"
# Argon2 (RFC 9106): the reference C sources bundled in the `argon2` npm package (CC0 / Apache-2.0),
# compiled without threads (wasm32-wasi has none; the lanes are filled one after the other).
ARGON2=node_modules/argon2/argon2
ARGON2_SRCS="argon2.c core.c encoding.c ref.c blake2/blake2b.c"
ARGON2_DEFS=(-DARGON2_NO_THREADS)
# Linear-memory caps (wasm-ld --max-memory; malloc returns NULL past them). The vault instances keep
# the 64 MiB of LDFLAGS below; the KDF instances get 1 GiB (the largest Argon2id work area an
# envelope may ask for) + 64 MiB.
KDF_MAX_MEMORY=$(( (1024 + 64) * 1024 * 1024 ))

# ---- toolchain checks, with the package that provides what is missing ----
missing=()
command -v "$CC" >/dev/null 2>&1 || missing+=("clang (Debian package: clang)")
command -v wasm-ld >/dev/null 2>&1 || command -v wasm-ld-14 >/dev/null 2>&1 || missing+=("wasm-ld (Debian package: lld)")
command -v "${HOSTCC:-cc}" >/dev/null 2>&1 || missing+=("a native C compiler for libsecp256k1's table generator (Debian package: gcc)")
command -v patch >/dev/null 2>&1 || missing+=("patch, to apply secp256k1-ct.patch (Debian package: patch)")
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
[ -f "$ARGON2/src/core.c" ] || missing+=("$ARGON2/src/core.c (run npm install: package argon2@0.45.1)")
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

# libsecp256k1's sources as built: a copy of the npm package's, with secp256k1-ct.patch applied (the
# constant-time fix of upstream v0.3.1 for clang >= 14; the patch file says what and why). -F0: the
# patch must apply exactly, or the build stops.
patched_secp() { # $1 = directory that receives include/ and src/
  mkdir -p "$1"
  cp -R "$SECP/include" "$SECP/src" "$1/"
  patch -p1 -F0 --quiet --no-backup-if-mismatch -d "$1" < enclaves/vault/secp256k1-ct.patch
}

# libsecp256k1 as one translation unit. The temp dir is mapped to a fixed name so that no random path
# reaches the output.
compile_secp() { # $1 = libsecp256k1 source dir, $2 = output object, rest = extra cflags
  local src="$1" out="$2"; shift 2
  "$CC" "${COMMON[@]}" -fno-ident "$@" -ffile-prefix-map="$TMP"=/hway-build "${SECP_DEFS[@]}" \
    -I"$src" -I"$src/src" -I"$TMP/gen/src" -w -c enclaves/vault/secp256k1_unit.c -o "$out"
}

build_one() { # $1 = output wasm, $2 = object dir, rest = extra cflags; also writes the -kdf twin
  local out="$1" obj="$2"; shift 2
  local objs=() s o
  mkdir -p "$obj"
  for s in $SRCS; do
    "$CC" "${COMMON[@]}" -fno-ident "$@" -I"$SECP" -I"$ARGON2/include" -c "enclaves/vault/$s" -o "$obj/${s%.c}.o"
    objs+=("$obj/${s%.c}.o")
  done
  for s in $ARGON2_SRCS; do
    o="$obj/argon2-$(basename "${s%.c}").o"
    "$CC" "${COMMON[@]}" -fno-ident "$@" "${ARGON2_DEFS[@]}" -I"$ARGON2/include" -I"$ARGON2/src" -w \
      -c "$ARGON2/src/$s" -o "$o"
    objs+=("$o")
  done
  compile_secp "$TMP/secp" "$obj/secp256k1_unit.o" "$@"
  objs+=("$obj/secp256k1_unit.o")
  "$CC" "${COMMON[@]}" "${LDFLAGS[@]}" -o "$out" "${objs[@]}"
  # The same objects with the KDF instances' cap (a later --max-memory overrides LDFLAGS').
  "$CC" "${COMMON[@]}" "${LDFLAGS[@]}" -Wl,--max-memory=$KDF_MAX_MEMORY -o "${out%.wasm}-kdf.wasm" "${objs[@]}"
}

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
gen_static_context "$TMP/gen"
patched_secp "$TMP/secp"
if [ -n "$CT_OBJECTS" ]; then
  compile_secp "$TMP/secp" "$CT_OBJECTS/secp256k1_unit.o"
  compile_secp "$SECP" "$CT_OBJECTS/secp256k1_unit.unpatched.o"
  echo "build.sh --ct-objects: $CT_OBJECTS/secp256k1_unit.o (patched) and secp256k1_unit.unpatched.o"
  exit 0
fi
build_one "$TMP/vault.wasm" "$TMP/obj-prod"
build_one "$TMP/vault-test.wasm" "$TMP/obj-test" -DHWAY_TEST_EXPORTS
WASMS="vault vault-kdf vault-test vault-test-kdf"
for w in $WASMS; do
  sha256sum "$TMP/$w.wasm" | cut -d' ' -f1 > "$TMP/$w.wasm.sha256"
done
# The host's pins (enclaves/pins.ts) are generated too, so they cannot drift from the built files.
cat > "$TMP/pins.ts" <<EOT
// SHA-256 of the committed enclave plugins; written by enclaves/vault/build.sh. The host refuses to
// load a plugin whose hash differs (E_PLUGIN_INTEGRITY).
export const PINS = {
  'vault.wasm': '$(cat "$TMP/vault.wasm.sha256")',
  'vault-kdf.wasm': '$(cat "$TMP/vault-kdf.wasm.sha256")',
  'vault-test.wasm': '$(cat "$TMP/vault-test.wasm.sha256")',
  'vault-test-kdf.wasm': '$(cat "$TMP/vault-test-kdf.wasm.sha256")',
} as const;
EOT

if [ "$CHECK" = 1 ]; then
  bad=0
  for f in $(for w in $WASMS; do echo "$w.wasm $w.wasm.sha256"; done) pins.ts; do
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
  echo "build.sh --check: enclaves/{$(echo $WASMS | tr ' ' ',')}.wasm match the sources"
  exit 0
fi

for f in $(for w in $WASMS; do echo "$w.wasm $w.wasm.sha256"; done) pins.ts; do
  cp "$TMP/$f" "enclaves/$f"
done
for w in $WASMS; do
  echo "enclaves/$w.wasm  $(wc -c < "enclaves/$w.wasm") bytes  sha256 $(cat "enclaves/$w.wasm.sha256")"
done
