"""The WSGI application for a production server: `gunicorn -c python:backend.web.gunicorn_conf backend.web.wsgi:app`.

`vatio serve --production` runs exactly that. The app is built from the
VATIO_* variables in each worker, after gunicorn's gevent worker has patched
the standard library, so Socket.IO runs in gevent mode (backend/web/live.py).
"""

from backend.web.app import create_app

app = create_app()
