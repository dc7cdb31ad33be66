#!/usr/bin/env bash
# The README's main job: creates and uses its own virtual environment (.venv), installs the
# project with the writer's extra, and runs `argus demo` (chDB, in-process Redis, GraphiQL).
# Arguments go to `argus demo` (for example --port 8000).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/venv.sh
ensure_venv '.[writer]'
exec argus demo "$@"
