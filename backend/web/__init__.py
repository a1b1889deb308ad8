"""The web app: a JSON API (one blueprint per area), Sign-In with Ethereum, and Socket.IO live pushes.

`backend.web.app.create_app` builds it; `backend.web.live` emits live events
from any process. Nothing here imports TensorFlow.
"""
