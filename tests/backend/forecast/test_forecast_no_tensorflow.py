import subprocess
import sys


def test_cli_and_advice_import_without_tensorflow():
    code = ("import sys, backend.forecast.cli, backend.forecast.advice, backend.forecast.pipeline; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
