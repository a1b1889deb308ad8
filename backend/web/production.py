"""`vatio serve --production`: replace this process with gunicorn on the app (backend/web/gunicorn_conf.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from backend.settings import ServeSettings

__all__ = ["GUNICORN_APP", "GUNICORN_CONFIG", "exec_gunicorn", "gunicorn_command"]

GUNICORN_CONFIG = "python:backend.web.gunicorn_conf"
GUNICORN_APP = "backend.web.wsgi:app"


def gunicorn_command() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, GUNICORN_APP]


def exec_gunicorn(server: ServeSettings, environ: Mapping[str, str]) -> None:
    """Exec gunicorn with `server`'s address and workers; never returns (systemd then supervises gunicorn)."""
    env = {
        **environ,
        "VATIO_WEB_HOST": server.host,
        "VATIO_WEB_PORT": str(server.port),
        "VATIO_WEB_WORKERS": str(server.workers),
    }
    sys.stdout.flush()
    os.execve(sys.executable, gunicorn_command(), env)
