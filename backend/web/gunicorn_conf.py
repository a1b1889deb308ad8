"""gunicorn's settings for the web app: Flask-SocketIO's documented gevent deployment (docs/production.md).

The gevent worker serves HTTP and, through simple-websocket, Socket.IO's
WebSocket transport. Socket.IO accepts WebSocket only under this server
(backend/web/live.py), so a client's whole session is one connection to one
worker: several workers, or several such servers behind one address, need no
sticky sessions, and Redis (VATIO_REDIS_URL) carries each event to every
worker. Address and workers come from ServeSettings (VATIO_WEB_HOST,
VATIO_WEB_PORT, VATIO_WEB_WORKERS), which `vatio serve --production` sets.

Only what gunicorn needs is imported here: the master loads this module
before any worker patches the standard library.
"""

from backend.settings import ServeSettings

_server = ServeSettings.from_env()

bind = [_server.bind]
workers = _server.workers
worker_class = "gevent"
worker_connections = 1000  # open connections (WebSockets included) per worker
timeout = _server.timeout_s
graceful_timeout = 20
keepalive = 5
proc_name = "vatio-web"
accesslog = "-"
errorlog = "-"
loglevel = "info"
# Only a proxy on this host may say which client and scheme a request came from (X-Forwarded-*).
forwarded_allow_ips = "127.0.0.1,::1"
