#!/usr/bin/env bash
# Run the whole test suite (real Ray, real Weaviate, tiny Phi-3); installs what it needs first.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/rag -x
# scripts/test.sh --fast: only the tests of pure logic (no Ray, no Weaviate, no model), under a minute
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/install.sh"
cd "$ROOT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0
if [ "${1:-}" = "--fast" ]; then
  shift
  set -- -m fast "$@"
fi
exec "$PHI3RAY_PY" -m pytest "$@"
