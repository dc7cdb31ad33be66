"""The contract vendored in docs/contract/ is byte for byte the workplace's shared contract.

Code comments cite ``docs/contract/*.md``, so the repository reads on its own; this test
catches a copy that fell behind. The shared contract sits beside the clone (``../shared``,
as in CI) or beside a parent of it (a worktree under ``/work/wt/``): the nearest wins.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDORED = ROOT / "docs" / "contract"


def shared_contract() -> Path | None:
    for parent in ROOT.parents:
        if (parent / "shared" / "contract").is_dir():
            return parent / "shared" / "contract"
    return None


SHARED = shared_contract()
needs_shared = pytest.mark.skipif(
    SHARED is None, reason="no shared/contract beside this clone (outside the workplace)")


@needs_shared
def test_the_vendored_contract_has_the_shared_files() -> None:
    assert SHARED is not None
    assert sorted(p.name for p in VENDORED.glob("*.md")) == sorted(p.name for p in SHARED.glob("*.md"))


@needs_shared
@pytest.mark.parametrize("name", sorted(p.name for p in (SHARED or VENDORED).glob("*.md")))
def test_each_vendored_file_is_byte_equal_to_the_shared_one(name: str) -> None:
    assert SHARED is not None
    assert (VENDORED / name).read_bytes() == (SHARED / name).read_bytes()
