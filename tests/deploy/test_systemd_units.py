"""deploy/systemd/: every unit passes `systemd-analyze verify` once installed, and each names a real program.

The units say /opt/vatio, the install path of deploy/README.md; here that
path is replaced by this checkout (whose .venv holds the `vatio` program),
as installing them at another path would, and template units are checked as
an instance. systemd-analyze checks the syntax, the directives, and that
ExecStart's program exists and is executable.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from backend.paths import REPO_ROOT

UNITS = REPO_ROOT / "deploy" / "systemd"
INSTALL_PATH = "/opt/vatio"
INSTANCES = {
    "vatio-ingest@.service": "vatio-ingest@1.service",
    "vatio-settler@.service": "vatio-settler@1.service",
    "vatio-web@.service": "vatio-web@5000.service",
}
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed on this machine (Debian: apt-get install systemd)"
)


def installed(folder: Path, install_path: str) -> list[Path]:
    """The units as installed with the checkout at `install_path`, templates as one instance each."""
    written = []
    for unit in sorted(UNITS.iterdir()):
        path = folder / INSTANCES.get(unit.name, unit.name)
        path.write_text(unit.read_text().replace(INSTALL_PATH, install_path))
        written.append(path)
    return written


def verify(units: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=units[0].parent,
    )


def test_every_service_restarts_and_the_oracle_runs_both_roles():
    units = {path.name: path.read_text() for path in UNITS.iterdir()}
    assert {
        "vatio-chain.service",
        "vatio-broker.service",
        "vatio-ingest@.service",
        "vatio-settler@.service",
        "vatio-web@.service",
        "vatio-forecast.service",
        "vatio.target",
    } <= units.keys()
    for name, text in units.items():
        if name.endswith(".service"):
            assert "Restart=always" in text, f"{name} has no restart policy"
    assert "--role ingest --share-group" in units["vatio-ingest@.service"]
    assert "--role settle" in units["vatio-settler@.service"]
    assert "serve --production" in units["vatio-web@.service"]


@needs_systemd
def test_the_units_pass_systemd_analyze_verify(tmp_path):
    result = verify(installed(tmp_path, str(REPO_ROOT)))
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@needs_systemd
def test_verify_fails_where_the_program_is_not_installed(tmp_path):
    result = verify(installed(tmp_path, str(tmp_path / "nowhere")))
    assert result.returncode != 0 and "is not executable" in result.stderr, result.stderr
