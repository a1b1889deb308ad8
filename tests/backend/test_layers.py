"""The layering of backend/ (`.importlinter`): the contracts hold, and each one breaks on a forbidden import.

`lint-imports` runs on the real tree; then, for each contract, on a copy of
backend/ with one forbidden import added (directly, through another package,
or inside a function), to show that the contract would catch it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

CONTRACTS = {
    "pure-core": "market and protocol are pure: they import no process package",
    "oracle-below-web": "the oracle imports nothing from web",
    "web-without-tensorflow": "web never imports TensorFlow or the forecast model",
    "auditor-trusts-no-oracle": "the auditor imports nothing from the oracle (nor its web app)",
    "meters-speak-protocol": "meters and bridges import nothing from the oracle side but protocol",
    "readmodel-below-producers": "the read model, below both producers, imports neither oracle nor web",
    "tariffs-pure": "tariffs are pure: they import no process package",
    "coefficients-pure": "coefficients are pure: they import no process package",
}


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Run lint-imports on the `backend` package found under `root` (no cache: each run sees its own tree)."""
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: import-linter is a dev dependency (make setup installs it)")
    environment = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(CONFIG), "--no-cache", "--no-logo"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def verdicts(output: str) -> dict[str, str]:
    """Each contract's name -> KEPT or BROKEN, from the summary lines."""
    found = {}
    for name in CONTRACTS.values():
        match = re.search(rf"^{re.escape(name)} (KEPT|BROKEN)$", output, re.MULTILINE)
        found[name] = match.group(1) if match else "missing"
    return found


def test_the_config_names_every_contract_listed_here():
    assert set(re.findall(r"^\[importlinter:contract:([\w-]+)\]$", CONFIG.read_text(), re.MULTILINE)) == set(CONTRACTS)


def test_the_layering_contracts_hold():
    result = lint_imports(REPO_ROOT)
    assert verdicts(result.stdout) == dict.fromkeys(CONTRACTS.values(), "KEPT"), result.stdout + result.stderr
    assert result.returncode == 0


# contract -> (file under backend/, the line appended to it, the chain lint-imports must report)
FORBIDDEN = {
    "protocol imports the database": (
        "pure-core",
        "protocol/merkle.py",
        "from backend.db.models import Interval",
        "backend.protocol.merkle -> backend.db.models",
    ),
    "market reaches the chain through simulation": (
        "pure-core",
        "market/solver.py",
        "from backend.simulation.trading import auto_limits",
        "backend.simulation.trading -> backend.chain",
    ),
    "oracle imports web": (
        "oracle-below-web",
        "oracle/archive.py",
        "from backend.web.config import Config",
        "backend.oracle.archive -> backend.web.config",
    ),
    "web reaches tensorflow inside a function of forecast.advice": (
        "web-without-tensorflow",
        "forecast/advice.py",
        "def _model():\n    import tensorflow\n",
        "backend.forecast.advice -> tensorflow",
    ),
    "web imports the forecast model": (
        "web-without-tensorflow",
        "web/forecasts.py",
        "import backend.forecast.model",
        "backend.web.forecasts -> backend.forecast.model",
    ),
    "auditor imports the oracle": (
        "auditor-trusts-no-oracle",
        "audit/leaf_checks.py",
        "from backend.oracle.verifier import MeterInfo",
        "backend.audit.leaf_checks -> backend.oracle.verifier",
    ),
    "meters import the oracle": (
        "meters-speak-protocol",
        "meters/simulator.py",
        "from backend.oracle.verifier import MeterInfo",
        "backend.meters.simulator -> backend.oracle.verifier",
    ),
    "a bridge imports the oracle": (
        "meters-speak-protocol",
        "bridge/rules.py",
        "from backend.oracle.verifier import MeterInfo",
        "backend.bridge.rules -> backend.oracle.verifier",
    ),
    "tariffs read the settings inside a function": (
        "tariffs-pure",
        "tariffs/bands.py",
        "def _zone():\n    from backend.settings import SettingsError\n",
        "backend.tariffs.bands -> backend.settings",
    ),
    "the coefficients planner reads the forecast store inside a function": (
        "coefficients-pure",
        "coefficients/planner.py",
        "def _stored():\n    from backend.forecast.store import load_forecasts\n",
        "backend.coefficients.planner -> backend.forecast.store",
    ),
    "the coefficients file reaches the chain through simulation": (
        "coefficients-pure",
        "coefficients/distributor_file.py",
        "from backend.simulation.trading import auto_limits",
        "backend.simulation.trading -> backend.chain",
    ),
    "the read model imports the oracle": (
        "readmodel-below-producers",
        "readmodel/payloads.py",
        "from backend.oracle.verifier import MeterInfo",
        "backend.readmodel.payloads -> backend.oracle.verifier",
    ),
}


# Contracts a case breaks besides its own: coefficients settle the leftover with market's solver, so whatever the
# market reaches, they reach too.
ALSO_BROKEN = {"market reaches the chain through simulation": {"coefficients-pure"}}


@pytest.mark.parametrize("case", FORBIDDEN, ids=list(FORBIDDEN))
def test_a_forbidden_import_breaks_its_contract(tmp_path, case):
    contract, path, line, chain = FORBIDDEN[case]
    shutil.copytree(
        REPO_ROOT / "backend",
        tmp_path / "backend",
        ignore=lambda folder, names: [
            n for n in names if n == "__pycache__" or (Path(folder, n).is_file() and not n.endswith(".py"))
        ],
    )
    target = tmp_path / "backend" / path
    target.write_text(target.read_text() + f"\n{line}\n")

    result = lint_imports(tmp_path)
    broken = {contract} | ALSO_BROKEN.get(case, set())
    expected = {name: "BROKEN" if key in broken else "KEPT" for key, name in CONTRACTS.items()}
    assert verdicts(result.stdout) == expected, result.stdout + result.stderr
    assert chain in result.stdout
    assert result.returncode == 1
