"""Tariff schedules: the TOML file, its time bands, validation, on-chain encoding, rounding and statements' money.

Pure like `market` and `protocol` (`.importlinter`'s tariffs-pure contract):
nothing here reads a database, a chain or a settings object.
"""
