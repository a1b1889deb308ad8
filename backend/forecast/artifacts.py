"""Versioned model directories: ``<root>/<model name>/<version>/`` with a ``LATEST`` pointer."""

import os
from datetime import UTC, datetime
from pathlib import Path

from backend.paths import var_dir

MODEL_ROOT_ENV = "VATIO_MODEL_DIR"


def model_root(root: str | Path | None = None) -> Path:
    """Return the model root: the argument, else ``$VATIO_MODEL_DIR``, else ``models`` under the var root."""
    return Path(root or os.environ.get(MODEL_ROOT_ENV) or var_dir() / "models")


def new_version_dir(name: str, root: str | Path | None = None) -> Path:
    """Return a fresh version directory for model ``name`` (UTC timestamp), not yet created."""
    version = datetime.now(UTC).strftime("v%Y%m%dT%H%M%SZ")
    return model_root(root) / name / version


def mark_latest(version_dir: Path) -> None:
    """Point ``<root>/<name>/LATEST`` at ``version_dir``."""
    (version_dir.parent / "LATEST").write_text(version_dir.name + "\n")


def latest_version_dir(name: str, root: str | Path | None = None) -> Path:
    """Return the directory of the latest version of model ``name``."""
    pointer = model_root(root) / name / "LATEST"
    if not pointer.is_file():
        raise FileNotFoundError(f"no trained model {name!r} under {model_root(root)}; run `vatio train` first")
    return pointer.parent / pointer.read_text().strip()
