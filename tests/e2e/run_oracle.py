"""Run the e2e stack's oracle from settings: `python run_oracle.py '<JSON of OracleSettings fields>'`.

The stack deploys a community of its own, so the oracle reads that deployment
file and writes that archive, never the repository's: the JSON names them,
and everything it leaves out comes from the VATIO_* variables (as for
`vatio oracle`). The oracle is wired by the same builder as the command.
"""

from __future__ import annotations

import json
import logging
import sys

from backend.oracle.runner import build_oracle
from backend.settings import OracleSettings


def main(arguments: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = OracleSettings.from_env(**json.loads(arguments[0]))
    build_oracle(settings).run(report=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main(sys.argv[1:])
