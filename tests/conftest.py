"""Test tiers for every suite: markers from where a test lives and what it runs on.

`make test-fast` deselects postgres, faults, tensorflow, slow and e2e; `make
test` runs everything. Markers that a folder or a fixture parameter implies are
set here, so a new test lands in the right tier without remembering to mark
it; `slow` and `tensorflow` are set in the modules themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent
FOLDER_MARKERS = {TESTS / "backend" / "faults": "faults", TESTS / "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path)
        for folder, marker in FOLDER_MARKERS.items():
            if path.is_relative_to(folder):
                item.add_marker(marker)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("db_kind") == "postgresql":
            item.add_marker("postgres")
