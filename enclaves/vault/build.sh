#!/usr/bin/env bash
# Builds the vault enclave: enclaves/vault.wasm (production) and enclaves/vault-test.wasm
# (same sources + -DHWAY_TEST_EXPORTS), deterministically, plus their .sha256 files. Each is linked
# twice from the same objects: vault*.wasm with the small linear-memory cap of long-lived vault
# instances, and vault-kdf*.wasm with the large cap of the one-shot export/import instances, whose
# Argon2id work area is 256 MiB by default and up to 1 GiB (ABI.md, "Memory").
#   bash enclaves/vault/build.sh           build and write the committed files
#   bash enclaves/vault/build.sh --check   build in a temp dir, compare byte-for-byte
#   bash enclaves/vault/build.sh --ct-objects DIR   only libsecp256k1's object, unstripped, as it goes
#       into vault.wasm (DIR/secp256k1_unit.o), and a control built without upstream's constant-time
#       "volatile trick" (DIR/secp256k1_unit.control.o): spec/enclave-constant-time.test.ts disassembles them
# Needs clang, wasm-ld and wasi-libc for wasm32-wasi
# (Debian: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32), and libsecp256k1's release
# tarball (below), which it downloads once from Debian's archive into .cache/ and checks by SHA-256.
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
# libsecp256k1 0.5.0, the upstream release tarball as Debian ships it (trixie's libsecp256k1 source
# package; the SHA-256 is the one Debian's trixie Sources index lists for it). Not from npm: no npm
# package carries a current release's sources. 0.5.0 over the 2019 snapshot the secp256k1 npm package bundles:
# safegcd inversion and the signed-digit multi-comb halve a signature's cost in wasm (bench:enclave),
# and it has upstream's constant-time fixes (v0.3.1, v0.3.2) built in.
SECP_VERSION=0.5.0
SECP_TARBALL="libsecp256k1_${SECP_VERSION}.orig.tar.xz"
SECP_SHA256=13b70138be52d7a23bdf0ea39ed79799a30eb855f2ed82c028357f6432cd536b
SECP_URL="${HWAY_SECP_URL:-http://deb.debian.org/debian/pool/main/libs/libsecp256k1/$SECP_TARBALL}"
SECP_CACHE="${HWAY_SECP_CACHE:-$ROOT/.cache}"
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
command -v xz >/dev/null 2>&1 || missing+=("xz, to unpack libsecp256k1's tarball (Debian package: xz-utils)")
[ -f "$SECP_CACHE/$SECP_TARBALL" ] || command -v curl >/dev/null 2>&1 || missing+=("curl, to download libsecp256k1's tarball once (Debian package: curl)")
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
# 10x26 field and 8x32 scalar (USE_FORCE_WIDEMUL_INT64): wasm32 has no 64x64->128 multiply, and the
# int128 build measured twice as slow. The 86 KiB signing table (COMB 43x6, upstream's largest) is
# the fastest; the verification table is kept at window 8 (8 KiB) because every vault instance copies
# the module's data into its own memory, and window 15's 1 MiB would be per vault.
SECP_DEFS=(-DENABLE_MODULE_RECOVERY -DUSE_FORCE_WIDEMUL_INT64 -DCOMB_BLOCKS=43 -DCOMB_TEETH=6
  -DECMULT_WINDOW_SIZE=8 -DUSE_EXTERNAL_DEFAULT_CALLBACKS)
LDFLAGS=(-mexec-model=reactor -Wl,--strip-all -Wl,--max-memory=67108864 -Wl,-z,stack-size=262144 -Wl,--stack-first)

# libsecp256k1's sources: the release tarball, fetched into the cache once and checked every build.
secp_sources() { # $1 = directory that receives include/ and src/
  local tarball="$SECP_CACHE/$SECP_TARBALL" got=""
  [ -f "$tarball" ] && got="$(sha256sum "$tarball" | cut -d' ' -f1)"
  if [ "$got" != "$SECP_SHA256" ]; then
    mkdir -p "$SECP_CACHE"
    echo "build.sh: downloading $SECP_URL" >&2
    # A name of this run's own: two builds at once (the check and the constant-time test) must not
    # write one file.
    if ! curl -fsSL --retry 3 -o "$tarball.part.$$" "$SECP_URL"; then
      rm -f "$tarball.part.$$"
      echo "build.sh: cannot download libsecp256k1 $SECP_VERSION from $SECP_URL (set HWAY_SECP_URL to a mirror, or put $SECP_TARBALL in $SECP_CACHE)" >&2
      exit 1
    fi
    mv "$tarball.part.$$" "$tarball"
    got="$(sha256sum "$tarball" | cut -d' ' -f1)"
  fi
  if [ "$got" != "$SECP_SHA256" ]; then
    echo "build.sh: $tarball has SHA-256 $got, expected $SECP_SHA256; refusing to build from it" >&2
    exit 1
  fi
  mkdir -p "$1"
  tar -xJf "$tarball" -C "$1" --strip-components=1 "libsecp256k1-$SECP_VERSION/include" "libsecp256k1-$SECP_VERSION/src"
}

# The control of spec/enclave-constant-time.test.ts: the same sources with the "volatile trick" of
# upstream's v0.3.1 fix (a cmov reads its flag through a volatile local) undone, as libsecp256k1 was
# before it. clang >= 14 then turns the secret table lookup into selects; the test shows it can see that.
control_sources() { # $1 = sources from secp_sources, $2 = directory for the control copy
  cp -R "$1" "$2"
  sed -i 's/volatile int vflag = flag;/int vflag = flag;/' "$2/src/field_10x26_impl.h" "$2/src/scalar_8x32_impl.h" "$2/src/util.h"
  ! grep -q 'volatile int vflag' "$2/src/field_10x26_impl.h" "$2/src/scalar_8x32_impl.h" "$2/src/util.h"
}

# libsecp256k1 as one translation unit. The temp dir is mapped to a fixed name so that no random path
# reaches the output.
compile_secp() { # $1 = libsecp256k1 source dir, $2 = output object, rest = extra cflags
  local src="$1" out="$2"; shift 2
  "$CC" "${COMMON[@]}" -fno-ident "$@" -ffile-prefix-map="$TMP"=/hway-build "${SECP_DEFS[@]}" \
    -I"$src" -I"$src/src" -w -c enclaves/vault/secp256k1_unit.c -o "$out"
}

build_one() { # $1 = output wasm, $2 = object dir, rest = extra cflags; also writes the -kdf twin
  local out="$1" obj="$2"; shift 2
  local objs=() s o
  mkdir -p "$obj"
  for s in $SRCS; do
    "$CC" "${COMMON[@]}" -fno-ident "$@" -I"$TMP/secp" -I"$ARGON2/include" -c "enclaves/vault/$s" -o "$obj/${s%.c}.o"
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
secp_sources "$TMP/secp"
if [ -n "$CT_OBJECTS" ]; then
  control_sources "$TMP/secp" "$TMP/secp-control"
  compile_secp "$TMP/secp" "$CT_OBJECTS/secp256k1_unit.o"
  compile_secp "$TMP/secp-control" "$CT_OBJECTS/secp256k1_unit.control.o"
  echo "build.sh --ct-objects: $CT_OBJECTS/secp256k1_unit.o (as built) and secp256k1_unit.control.o"
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
