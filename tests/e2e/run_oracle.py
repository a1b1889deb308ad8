"""Run `vatio oracle` with its deployment file taken from $VATIO_DEPLOYMENTS_DIR.

`vatio oracle` finds the deployment as deployments/<chainId>.json in the
repository (backend.chain.deploy.DEPLOYMENTS_DIR). The e2e stack deploys a
fresh community of its own and must not overwrite the repository's file,
so this launcher points that folder elsewhere before the command runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import backend.chain.deploy as deploy

deploy.DEPLOYMENTS_DIR = Path(os.environ["VATIO_DEPLOYMENTS_DIR"])

from backend.cli import main  # noqa: E402 - after the folder is set

if __name__ == "__main__":
    sys.exit(main(prog_name="vatio"))
