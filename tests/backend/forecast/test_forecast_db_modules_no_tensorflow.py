import subprocess
import sys


def test_the_modules_the_web_app_and_scheduler_import_leave_tensorflow_out():
    # The web API imports store and advice; the scheduler imports service and history before any model runs.
    code = (
        "import sys, backend.forecast.store, backend.forecast.advice, backend.forecast.history, "
        "backend.forecast.service, backend.db.models; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
