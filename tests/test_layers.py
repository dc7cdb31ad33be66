"""The packages are the layers: no module imports one from a layer above it.

``http`` → ``policy`` → ``graphql`` → ``data`` → the kernel (``settings``, ``errors``, ``keys``,
``symbols``). ``cli`` sits beside them and may import any of them; the ``writer`` sits beside
them too and imports only the kernel and ``data``. Every import counts, also one inside a
function or under ``TYPE_CHECKING``: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "argus"

#: The stack, lowest first: a module may import its own layer and every layer below.
STACK = ("kernel", "data", "graphql", "policy", "http")
KERNEL = {"argus", "argus.settings", "argus.errors", "argus.keys", "argus.symbols"}
#: What each layer beside the stack may import.
BESIDE = {
    "cli": {"kernel", "data", "graphql", "policy", "http", "cli", "writer"},
    "writer": {"kernel", "data", "writer"},
}
#: Known exceptions, each with its reason. Keep this short: fix the dependency instead.
ALLOWED: set[tuple[str, str]] = set()


def layer_of(module: str) -> str:
    if module in KERNEL:
        return "kernel"
    if module == "argus.__main__":
        return "cli"
    top = module.split(".")[1]
    if top in STACK or top in BESIDE:
        return top
    raise AssertionError(f"{module} is in no layer: put it in a package (or name it in KERNEL)")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported(path: Path) -> set[str]:
    """The argus modules one file imports, relative imports resolved."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from argus.policy import api_keys`` imports the module argus.policy.api_keys.
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base)
    return {name for name in found if name == "argus" or name.startswith("argus.")}


def upward_imports(root: Path = PACKAGE) -> list[str]:
    wrong: list[str] = []
    for path in sorted(root.rglob("*.py")):
        source = module_name(path)
        here = layer_of(source)
        allowed = BESIDE.get(here) or set(STACK[: STACK.index(here) + 1])
        for target in sorted(imported(path)):
            there = layer_of(target)
            if there not in allowed and (source, target) not in ALLOWED:
                wrong.append(f"{source} ({here}) imports {target} ({there})")
    return wrong


def test_no_module_imports_one_from_a_layer_above_it() -> None:
    assert upward_imports() == []


def test_the_walk_sees_the_imports_it_judges() -> None:
    # A walk that found nothing would pass the test above: check it reads real edges.
    edges = {(module_name(p), t) for p in PACKAGE.rglob("*.py") for t in imported(p)}
    assert ("argus.http.app", "argus.policy.policy") in edges
    assert ("argus.policy.policy", "argus.policy.cache_hints") in edges
    assert ("argus.data.store", "argus.data.transport.fastpipe") in edges
    assert ("argus.cli.serve", "argus.http.server") in edges  # a lazy import, inside a function


def test_an_upward_import_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "argus"
    for package in ("", "data", "http"):
        (fake / package).mkdir(exist_ok=True)
        (fake / package / "__init__.py").write_text("")
    (fake / "http" / "app.py").write_text("")
    (fake / "data" / "store.py").write_text("from ..http import app\nimport argus.http.app\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)
    assert upward_imports(fake) == [
        "argus.data.store (data) imports argus.http.app (http)",
    ]
