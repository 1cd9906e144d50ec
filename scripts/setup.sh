#!/usr/bin/env bash
# Installs everything modelseal's tests and demo need: Debian's chromium (for browser tests),
# Debian's redis-server (the key-server replica tests start their own), Debian's softhsm2 (the
# PKCS#11 master-key tests init their own token), and the npm packages pinned
# in package-lock.json. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: chromium for the browser tests; bsdutils (`script`, a pseudo-terminal for the
# progress-bar test) is essential in Debian and normally present already.
PACKAGES=()
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then PACKAGES+=(chromium); fi
if ! command -v script >/dev/null 2>&1; then PACKAGES+=(bsdutils); fi
if ! command -v redis-server >/dev/null 2>&1; then PACKAGES+=(redis-server); fi
# SoftHSM2: a real PKCS#11 token for the HSM master-key tests; g++ and make build the optional
# pkcs11js binding (node-gyp uses Node's own headers from /usr/include/node, see .npmrc).
if ! command -v softhsm2-util >/dev/null 2>&1; then PACKAGES+=(softhsm2); fi
if ! command -v g++ >/dev/null 2>&1; then PACKAGES+=(g++); fi
if ! command -v make >/dev/null 2>&1; then PACKAGES+=(make); fi
if [ "${#PACKAGES[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${PACKAGES[*]}" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund
fi
