"""What meters, the oracle, the auditor, the web app and the browser must agree on, byte for byte.

Pure: no I/O, no database, no chain client, and no import of a process
package (oracle, web, audit, meters, forecast, chain, db); ``.importlinter``
holds that. One module per job:

- ``readings``: the EIP-712 reading digest, signing, signer recovery and ``readings_hash``.
- ``parser``: the MQTT readings payload: bytes in, a signed reading or a typed rejection out, and back.
- ``topics``: the readings topics: the oracle's subscription and the meter a topic names.
- ``energy``: registers at interval boundaries (``register_at``) and the energy between them.
- ``merkle``: the settlement leaf hash and the readings Merkle tree (OpenZeppelin's sorted pairs).
- ``archive``: the readings-archive document: its typed form, its JSON, its file layout.

``docs/mqtt.md`` and ``docs/archive.md`` are their public descriptions, and
``tests/fixtures/protocol_vectors.json`` the bytes that the browser's
``frontend/src/audit/verify.ts`` must reproduce.
"""
