import subprocess
import sys


def test_cli_and_advice_import_without_tensorflow():
    code = (
        "import sys, backend.forecast.cli, backend.forecast.advice, backend.forecast.pipeline; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_selection_suites_and_weather_import_without_tensorflow():
    code = (
        "import sys, backend.forecast.selection, backend.forecast.suites, backend.forecast.weather, "
        "backend.forecast.evaluate; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
