"""The web app: a JSON API (one blueprint per area), Sign-In with Ethereum, and Socket.IO live pushes.

`backend.web.app.create_app` builds it. The live events' payloads and the
emitter other processes use are the read model's (`backend.readmodel`).
Nothing here imports TensorFlow.
"""
