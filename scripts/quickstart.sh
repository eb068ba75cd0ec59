#!/usr/bin/env bash
# The main job, end to end on the embedded defaults: tiny Phi-3, embedded Weaviate, local Ray.
# Installs what it needs the first time (scripts/install.sh) and reuses it afterwards.
#   1. ingest the sample manuals into the embedded Weaviate and show retrieved answers with sources
#   2. fine-tune two LoRA adapters on the sample Q&A with Ray Train + DeepSpeed ZeRO-2 (2 CPU workers): one on the
#      plain rows, one RAG-aware (data.rag_context: each question with the sources serving shows, answers cite them)
#   3. evaluate base, base+RAG and each adapter with and without RAG on the held-out questions -> report.md
#   4. start the Ray Serve app, ask one question with RAG and the RAG-aware adapter, print the answer and its sources
# It ends with where the adapter, the report and the answer are, and the commands to try next.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/install.sh"
cd "$ROOT"
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0
# DeepSpeed on the CPU only where there is no CUDA (phi3ray.train.deepspeed_config.cpu_accelerator_env decides)
eval "$("$PHI3RAY_PY" -c 'from phi3ray.train.deepspeed_config import cpu_accelerator_env as e; print("".join(f"export {k}={v}; " for k, v in e().items()))')"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=$PHI3RAY_PY
RUNS=${PHI3RAY_RUNS:-$HOME/phi3ray_runs}
RUN=quickstart-$(date +%Y%m%d-%H%M%S)
ADAPTER=$RUNS/$RUN/adapter
RAG_ADAPTER=$RUNS/$RUN-rag/adapter
REPORT=$ROOT/outputs/eval/$RUN/report.md
ANSWER=$RUNS/$RUN/answer.txt
started=$SECONDS

printf '\n== 1/4 ingest data/pumps/docs into the embedded Weaviate ==\n'
"$PY" jobs/ingest.py

printf '\n== 2/4 fine-tune LoRA adapters on the tiny Phi-3 (Ray Train, 2 workers, DeepSpeed ZeRO-2): plain, then RAG-aware ==\n'
# a 1.4M-parameter model moves slowly at the real models' 2e-4. The plain rows pack ~8 to a sequence: ten epochs
# are 80 steps (~2 min on 2 cores)
"$PY" jobs/train.py model=tiny training.learning_rate=1e-3 training.epochs=10 run.name="$RUN" run.storage_path="$RUNS"
# RAG rows are ~1000 tokens (five sources) and do not pack: one epoch is 59 steps. Four at 3e-3 (~6 min on 2 cores;
# lr by the eval loss on held-back training rows: 2.04, against 2.54 at 1e-3) take the RAG-aware adapter with RAG
# above the base model with RAG; one did not (README, RAG-aware fine-tuning)
"$PY" jobs/train.py model=tiny training.learning_rate=3e-3 training.epochs=4 data.rag_context=true data.max_seq_len=1024 \
  run.name="$RUN-rag" run.storage_path="$RUNS"

printf '\n== 3/4 evaluate base, base+RAG, each adapter with and without RAG on the held-out questions ==\n'
"$PY" jobs/evaluate.py model=tiny "+adapters.pumps=$ADAPTER" "+adapters.pumps-rag=$RAG_ADAPTER" \
  max_questions=42 generation.max_new_tokens=64 run_name="$RUN"  # 42 of 84, spread evenly: every kind

printf '\n== 4/4 serve: start the app, ask one question with RAG, stop ==\n'
"$PY" -m phi3ray.serve.ask "How often should the oil chamber of a VXS-80 be inspected?" model=tiny \
  "+adapters.pumps-rag=$RAG_ADAPTER" --model pumps-rag | tee "$ANSWER"

cat <<EOT

== quickstart done in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s ==
adapter: $ADAPTER
rag adapter: $RAG_ADAPTER
report:  $REPORT
answer:  $ANSWER
next:
  . scripts/env.sh                                   # this shell uses phi3ray's venv (and RAY_AUTH_MODE=token)
  python jobs/evaluate.py model=tiny +adapters.pumps=$ADAPTER +adapters.pumps-rag=$RAG_ADAPTER
  PHI3RAY_SERVE_OVERRIDES="model=tiny +adapters.pumps-rag=$RAG_ADAPTER" serve run serve/config.yaml
  scripts/test.sh                                    # the test suite
EOT
