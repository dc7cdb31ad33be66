"""The error tree drawn in ``argus/errors.py`` is the tree of classes, with their codes."""

from __future__ import annotations

import re

from argus import errors
from argus.errors import ArgusError
from argus.policy.budget import BudgetSpent

CLASSES: dict[str, type[ArgusError]] = {
    name: value for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, ArgusError)
} | {"BudgetSpent": BudgetSpent}


def drawn() -> list[tuple[str, str, str | None]]:
    """(class, parent, code) for each line of the docstring's tree below the base."""
    assert errors.__doc__ is not None
    rows: list[tuple[str, str, str | None]] = []
    parents = ["ArgusError"]
    for line in errors.__doc__.splitlines():
        found = re.match(r"^    ([│ ]*)[├└]── (\w+)(?: \([\w.]+\))?\s+([A-Z_]{4,})?", line)
        if found is None:
            continue
        depth = len(found.group(1)) // 4 + 1  # the tree is indented by 4, each level by 4
        del parents[depth:]
        rows.append((found.group(2), parents[-1], found.group(3)))
        parents.append(found.group(2))
    return rows


def test_every_error_class_is_drawn_under_its_parent() -> None:
    tree = drawn()
    assert sorted(name for name, _, _ in tree) == sorted(set(CLASSES) - {"ArgusError"})
    for name, parent, _ in tree:
        assert CLASSES[name].__bases__ == (CLASSES[parent],), name


def test_every_drawn_code_is_the_class_code() -> None:
    for name, _, code in drawn():
        if code is not None:
            assert CLASSES[name].code == code, name
