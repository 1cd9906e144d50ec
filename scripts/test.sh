#!/usr/bin/env bash
# The whole test suite from a clean checkout: install, build, type check, lint, vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test
