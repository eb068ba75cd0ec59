#!/usr/bin/env bash
# One prepared GPU check (bench/gpu_check.py): a table of LoRA train steps, mixed-adapter generation and
# half-precision embedding, at the model level, WITHOUT Ray (nor DeepSpeed, bitsandbytes, Hydra, network).
#   bash bench/gpu_check.sh            # one H100/H200
#   bash bench/gpu_check.sh --dry-run  # CPU, tiny Phi-3 dimensions (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PHI3RAY_PY:-$( [ -x "${PHI3RAY_CACHE:-$HOME/.cache/phi3ray}/venv/bin/python" ] && echo "${PHI3RAY_CACHE:-$HOME/.cache/phi3ray}/venv/bin/python" || echo python3)}
exec env HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false "$PY" bench/gpu_check.py "$@"
