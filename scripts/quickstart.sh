#!/usr/bin/env bash
# The main job, end to end on the embedded defaults: tiny Phi-3, embedded Weaviate, local Ray.
# Installs what it needs the first time (scripts/install.sh) and reuses it afterwards.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/install.sh"
cd "$ROOT"
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0 DS_ACCELERATOR=${DS_ACCELERATOR:-cpu}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=$PHI3RAY_PY

echo "== 1. ingest the sample manuals into the embedded Weaviate and ask it =="
"$PY" jobs/ingest.py
