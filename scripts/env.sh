# Enter phi3ray's environment in this shell:   . scripts/env.sh
# Installs what is missing (scripts/install.sh, in a child shell: the venv under $PHI3RAY_CACHE, the
# weaviate-server binary), then activates the venv, so that `python jobs/train.py ...`,
# `serve run serve/config.yaml`, `ray start` and `ray job submit` all use phi3ray's packages. `deactivate` leaves it.
# Ray 2.60 turns token authentication on by default: a `ray start --head` cluster and the `ray job` CLI
# must both run with RAY_AUTH_MODE=token (they share ~/.ray/auth_token), so it is exported here too.
bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/install.sh" || return 1
export PHI3RAY_CACHE=${PHI3RAY_CACHE:-$HOME/.cache/phi3ray}
. "$PHI3RAY_CACHE/venv/bin/activate"
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-token}
echo "phi3ray environment: $(command -v python) (RAY_AUTH_MODE=$RAY_AUTH_MODE; 'deactivate' to leave)" >&2
