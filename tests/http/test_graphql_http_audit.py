"""The graphql-http server audit (the GraphQL-over-HTTP spec's conformance suite, from npm)
against a live ``argus serve``: every MUST and every SHOULD passes, for anonymous callers and
for an internal-tier API key. ``tests/audit/`` holds the pinned packages (``npm ci`` there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import running, wait_until_healthy
from tests.redis_server import free_port

AUDIT = Path(__file__).resolve().parents[1] / "audit"
#: Audits the server leaves out, with the reason (also listed in the README). None today.
MAY_LEFT_OUT: dict[str, str] = {}


def _node() -> str:
    node = shutil.which("node")
    ready = node is not None and (AUDIT / "node_modules" / "graphql-http").is_dir()
    if not ready:
        reason = ("node and tests/audit/node_modules are needed "
                  "(apt-get install nodejs npm; npm ci --prefix tests/audit)")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)  # CI must run the audit, never skip it
        pytest.skip(reason)
    assert node is not None
    return node


@pytest.fixture
def server(redis_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    env = {**os.environ, "ARGUS_REDIS_URL": redis_url}
    port = free_port()
    with running([sys.executable, "-m", "argus", "serve", "--host", "127.0.0.1",
                  "--port", str(port)], env=env) as process:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, process, 20)
        yield f"{base}/graphql", env


def run_audit(node: str, url: str, *args: str) -> list[dict[str, object]]:
    out = subprocess.run([node, str(AUDIT / "audit.mjs"), url, *args], capture_output=True,
                         text=True, timeout=120, check=True, stdin=subprocess.DEVNULL)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def failures(results: list[dict[str, object]]) -> list[dict[str, object]]:
    return [r for r in results if r["status"] != "ok"
            and (not str(r["name"]).startswith("MAY") or r["id"] not in MAY_LEFT_OUT)]


def test_every_audit_passes_for_anonymous_callers(server: tuple[str, dict[str, str]]) -> None:
    url, _ = server
    results = run_audit(_node(), url)
    assert len(results) > 50  # the whole suite ran, not an empty list
    assert {str(r["name"]).split()[0] for r in results} == {"MUST", "SHOULD", "MAY"}
    assert failures(results) == []


def test_every_audit_passes_for_an_internal_api_key(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    node = _node()
    key = subprocess.run([sys.executable, "-m", "argus", "keys", "add", "--tier", "internal",
                          "--name", "audit"], env=env, capture_output=True, text=True, check=True,
                         timeout=60).stdout.strip()
    # The key is really used: a wrong one is refused, so the audit would fail with it.
    assert httpx.post(url, json={"query": "{ __typename }"},
                      headers={"x-api-key": key + "x"}).status_code == 401
    results = run_audit(node, url, key)
    assert len(results) > 50
    assert failures(results) == []
