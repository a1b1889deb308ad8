"""Where Vatio's files are: the source checkout, and the one var/ root that every default path lives under.

No default here depends on the directory a process starts in: two processes
started from different folders (the oracle writing the readings archive, the
web app serving it) resolve the same absolute paths.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DEPLOYMENTS_DIR", "REPO_ROOT", "VAR_DIR", "VAR_DIR_ENV", "absolute", "var_dir"]

REPO_ROOT = Path(__file__).resolve().parents[1]
# The repo's deployment files, deployments/<chainId>.json (VATIO_DEPLOYMENTS_DIR moves them).
DEPLOYMENTS_DIR = REPO_ROOT / "deployments"
# Everything a running community writes: database, archive, chain state, models, logs.
VAR_DIR = REPO_ROOT / "var"
VAR_DIR_ENV = "VATIO_VAR_DIR"


def absolute(path: str | Path) -> Path:
    """Return `path` made absolute once, at start-up: a relative one is taken from the current directory."""
    return Path(path).expanduser().resolve()


def var_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the var root: $VATIO_VAR_DIR, else <repo>/var."""
    environ = os.environ if environ is None else environ
    value = environ.get(VAR_DIR_ENV, "").strip()
    return absolute(value) if value else VAR_DIR
