"""Security headers: nosniff on every answer; the pages (GraphiQL, the dashboard) framed by
nobody and held to the server's own origin by their Content-Security-Policy (tests/browser
runs them under it)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from argus.http.app import STATIC, create_app
from argus.settings import Settings

HTML = {"Accept": "text/html"}


def csp_of(response: object) -> dict[str, list[str]]:
    header = response.headers["content-security-policy"]  # type: ignore[attr-defined]
    return {name: sources for name, *sources in (d.split() for d in header.split(";") if d.strip())}


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("POST", "/graphql", {"json": {"query": '{ symbol(symbol: "BTC") { symbol } }'}}),
    ("GET", "/graphql?query={__typename}", {}),
    ("GET", "/graphql", {"headers": HTML}),
    ("POST", "/graphql", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),
    ("POST", "/graphql", {"content": b"x", "headers": {"Content-Type": "text/plain"}}),
    ("PUT", "/graphql", {}),
    ("GET", "/api/intelligence/BTC/USD", {}),
    ("GET", "/api/intelligence/%20", {}),
    ("GET", "/healthz", {}),
    ("GET", "/readyz", {}),
    ("GET", "/static/graphiql/graphiql.min.css", {}),
    ("GET", "/static/graphiql/nothing.js", {}),
    ("GET", "/dashboard", {}),
    ("GET", "/static/dashboard/dashboard.js", {}),
    ("GET", "/nowhere", {}),
    ("GET", "/graphql", {"headers": {"X-Big": "x" * 20_000}}),
])
def test_every_answer_says_nosniff(api: TestClient, method: str, path: str, kwargs: dict[str, object]) -> None:
    response = api.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.headers["x-content-type-options"] == "nosniff", (response.status_code, path)


def test_an_unexpected_error_says_nosniff_too(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        async def broken() -> None:
            raise RuntimeError("boom")

        app.state.runtime.store.ping = broken
        response = client.get("/readyz")
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("path", "headers"), [("/graphql", HTML), ("/dashboard", {})])
def test_the_pages_cannot_be_framed_and_load_only_from_their_server(
        api: TestClient, path: str, headers: dict[str, str]) -> None:
    response = api.get(path, headers=headers)
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert response.headers["x-frame-options"] == "DENY"
    policy = csp_of(response)
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    for directive, sources in policy.items():
        # No origin but the server's own; data: only for the bundle's inlined fonts (and images).
        for source in sources:
            assert source in ("'self'", "'none'") or (source == "data:" and directive in ("font-src", "img-src")), \
                (directive, source)
    for name in ("connect-src", "style-src", "font-src", "img-src"):
        assert "'self'" in policy[name]


def test_json_answers_carry_no_page_policy(api: TestClient) -> None:
    response = api.post("/graphql", json={"query": "{ __typename }"})
    assert "content-security-policy" not in response.headers
    assert "x-frame-options" not in response.headers


class _Inline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.sources: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "style" or "style" in found or any(name.startswith("on") for name in found):
            self.inline.append(tag)
        if tag == "script":
            self._in_script = "src" not in found
            self.sources.append(found.get("src") or "")
        for name in ("src", "href"):
            if found.get(name):
                self.sources.append(found[name] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script")


@pytest.mark.parametrize(("page", "names"), [
    ("graphiql", r"/static/graphiql/[\w.-]+"),
    ("dashboard", r"/static/dashboard/[\w.-]+|/graphql"),  # and a link to GraphiQL
])
def test_a_page_has_no_inline_script_or_style_and_names_only_its_own_files(
        page: str, names: str) -> None:
    parser = _Inline()
    parser.feed((STATIC / page / "index.html").read_text(encoding="utf-8"))
    assert parser.inline == []
    for source in filter(None, parser.sources):
        assert re.fullmatch(names, source), source
        if source.startswith("/static/"):
            assert (STATIC / Path(source).relative_to("/static")).is_file(), source
