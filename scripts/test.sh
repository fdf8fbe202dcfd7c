#!/usr/bin/env bash
# `npm test`: the whole suite, SoftHSM included. Finds SoftHSM2, installs it when it can (root with
# apt), or stops with the exact command to run. Then makes sure the PKCS#11 addon is built, and runs
# vitest (the vitest global setup creates a private token directory and removes it afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

find_softhsm() {
  for lib in "${SOFTHSM2_LIB:-}" /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
             /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so /opt/homebrew/lib/softhsm/libsofthsm2.so; do
    if [ -n "$lib" ] && [ -e "$lib" ] && command -v softhsm2-util >/dev/null 2>&1; then echo "$lib"; return 0; fi
  done
  return 1
}

if ! find_softhsm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[bkv] SoftHSM2 not found: installing it (apt-get install -y softhsm2)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null
  else
    echo "[bkv] SoftHSM2 is required by the test suite and was not found. Install it with:" >&2
    echo "        sudo apt-get install -y softhsm2      (Debian/Ubuntu)" >&2
    echo "        brew install softhsm                  (macOS)" >&2
    echo "      or point SOFTHSM2_LIB at libsofthsm2.so." >&2
    exit 1
  fi
fi
export SOFTHSM2_LIB="$(find_softhsm)"

# pkcs11js (under graphene-pk11) is a native addon built at install time (against the local Node
# headers when there are some: scripts/node-gyp); rebuild it if missing.
if [ ! -x node_modules/.bin/node-gyp ] || [ ! -d node_modules/pkcs11js ]; then
  echo "[bkv] the dependencies are not installed: run \`npm ci\` first" >&2
  exit 1
fi
if [ ! -f node_modules/pkcs11js/build/Release/pkcs11.node ]; then
  npm rebuild pkcs11js
fi

exec npx vitest run "$@"
