#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs everything CI runs
# (ruff, mypy, pytest against real redis-servers it starts itself, the short benchmark gate).
# It creates and uses its own virtual environment (.venv), so it works on a stock Debian
# whose system Python refuses `pip install` (PEP 668), and it never reads stdin.
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null

. scripts/venv.sh
ensure_debian_packages redis-server
ensure_venv '.[writer,test]'
# The GraphQL-over-HTTP audit (tests/http/test_graphql_http_audit.py) runs graphql-http from npm.
ensure_debian_packages node:nodejs npm
echo "== npm ci (tests/audit: the graphql-http audit)"
npm ci --prefix tests/audit --no-audit --no-fund --loglevel=error

echo "== ruff";  python -m ruff check argus tests bench
echo "== mypy";  python -m mypy
echo "== schema"; python -m argus schema check
# The browser test (tests/browser): Debian's chromium, driven by playwright-core from npm.
ensure_debian_packages chromium node:nodejs npm
echo "== browser test packages"
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
echo "== npm (Apollo Client for tests/apollo)"
npm ci --prefix tests/apollo --no-audit --no-fund --loglevel=error
echo "== pytest"; python -m pytest tests
echo "== soak smoke (30 s of mixed and hostile load: no 5xx, no lost request)"
python -m bench.soak --seconds 30 --smoke
if [ -f bench/baseline.json ]; then
    echo "== benchmark gate (ratios against the committed baseline)"
    python -m bench.read_bench --quick --check bench/baseline.json
fi
