"""`vatio audit`: re-check settled intervals from the chain and the readings archive.

An auditor needs no rights and trusts neither the oracle nor its database:
events and state come from any JSON-RPC node, the signed readings from the
archive (a folder, or the web app's /api/intervals/<id>/archive). See
docs/audit.md for what is checked and what is not.
"""
