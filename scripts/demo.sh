#!/usr/bin/env bash
# The main job from a clean checkout: install, build, then seal the sample model, start the key
# server and the demo page, and load the sealed model once in Node.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run build >/dev/null
exec node dist/cli/main.js demo "$@"
