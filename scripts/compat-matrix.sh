#!/usr/bin/env bash
# The test suite on the oldest and the newest redis-py and Strawberry that pyproject.toml
# allows (the bounds below must match it). Each run gets a throwaway venv under /tmp.
#
#   scripts/compat-matrix.sh [oldest|newest|both] [pytest args...]
#       default: both, on tests/data tests/graphql tests/http tests/policy
#   COMPAT_BASE=/path/to/.venv scripts/compat-matrix.sh ...
#       faster: the throwaway venv sees BASE's packages (a .pth file) and installs only
#       redis-py and Strawberry at the bound over them; without it, a full `pip install .[writer,test]`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null

REDIS_OLDEST=${REDIS_OLDEST:-8.0.0}; REDIS_NEWEST='redis[hiredis]>=8.0,<9'
STRAWBERRY_OLDEST=${STRAWBERRY_OLDEST:-0.341.2}; STRAWBERRY_NEWEST='strawberry-graphql>=0.341.2,<0.342'

which=${1:-both}; [ $# -gt 0 ] && shift
tests=("$@"); [ ${#tests[@]} -gt 0 ] || tests=(tests/data tests/graphql tests/http tests/policy)

run() {  # name, redis requirement, strawberry requirement
    local venv; venv=$(mktemp -d "/tmp/argus-compat-$1-XXXX")
    trap 'rm -rf "$venv"' RETURN
    "${COMPAT_BASE:+$COMPAT_BASE/bin/}python3" -m venv "$venv"
    local pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
    if [ -n "${COMPAT_BASE:-}" ]; then
        "$COMPAT_BASE/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
            > "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/base.pth"
        # --ignore-installed: install beside BASE's copies (found later on sys.path), never over them.
        "${pip[@]}" --no-deps --ignore-installed "$2" "$3"
    else
        "${pip[@]}" '.[writer,test]' "$2" "$3"
    fi
    echo "== $1: $("$venv/bin/python" -c 'import importlib.metadata as m; print(*(p + " " + m.version(p) for p in ("redis", "strawberry-graphql")))')"
    PYTHONPATH=$PWD "$venv/bin/python" -m pytest -q -p no:cacheprovider "${tests[@]}"
}

status=0
case $which in
    oldest|both) run oldest "redis[hiredis]==$REDIS_OLDEST" "strawberry-graphql==$STRAWBERRY_OLDEST" || status=1 ;;&
    newest|both) run newest "$REDIS_NEWEST" "$STRAWBERRY_NEWEST" || status=1 ;;
    oldest) ;;
    *) echo "usage: $0 [oldest|newest|both] [pytest args...]" >&2; exit 2 ;;
esac
exit $status
