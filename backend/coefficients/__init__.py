"""Collective self-consumption, the Spanish way (RD 244/2019 Annex I, Orden TED/1247/2021): hourly sharing
coefficients, the allocation of an installation's production, and the distributor's coefficients file.

Pure: nothing here reads the chain, the database or the settings (`.importlinter`, contract `coefficients-pure`).
"""
