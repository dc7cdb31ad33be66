#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs everything CI runs
# (ruff, mypy, pytest against real redis-servers it starts itself, the short benchmark gate).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    echo "installing redis-server (Debian package)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[writer,test]'

echo "== ruff";  python3 -m ruff check argus tests bench
echo "== mypy";  python3 -m mypy argus
echo "== schema"; python3 -m argus schema check
echo "== pytest"; python3 -m pytest tests
if [ -f bench/baseline.json ]; then
    echo "== benchmark gate (ratios against the committed baseline)"
    python3 -m bench.read_bench --quick --check bench/baseline.json
fi
