"""The one place money is rounded (docs/tariffs.md, "Rounding").

- Energy is exact: integer Wh, shown as kWh with three decimals.
- Each statement line (one band and one component, or one fixed, capacity or
  tax line) is computed exactly (Fraction) and rounded once to the cent,
  half away from zero (ROUND_HALF_UP on the absolute value).
- A band's subtotal is the sum of its rounded lines: no second rounding.
- A tax is its rate times the sum of the rounded lines in its base, rounded
  once to the cent.
- The total is the sum of the rounded lines and rounded taxes: it adds up on
  paper, line by line.
- Community trades are already exact in token units (1e-6 EUR); a band's
  purchases or sales line sums them, then rounds to the cent like any line.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

CENT = Decimal("0.01")
TOKEN_UNITS_PER_EUR = 10**6
WH_PER_KWH = 1000


def to_cents(amount: Fraction | Decimal | int) -> Decimal:
    """An exact amount of euros, rounded to the cent, half away from zero."""
    if isinstance(amount, Fraction):
        amount = (
            Decimal(amount.numerator) / Decimal(amount.denominator)
            if amount.denominator != 1
            else Decimal(amount.numerator)
        )
        # Decimal division keeps 28 significant digits: far below half a cent for any bill.
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def energy_cost(wh: int, price_eur_per_kwh: Decimal) -> Fraction:
    """Exact euros for `wh` at a decimal price per kWh."""
    return Fraction(wh) * Fraction(price_eur_per_kwh) / WH_PER_KWH


def token_units_to_eur(units: int) -> Fraction:
    return Fraction(units, TOKEN_UNITS_PER_EUR)


def kwh(wh: int) -> Decimal:
    """Exact kWh with three decimals."""
    return (Decimal(wh) / WH_PER_KWH).quantize(Decimal("0.001"))


def eur_to_token_units(price: Decimal) -> int:
    """A price in EUR/kWh as payment units per kWh (6 decimals); refuses sub-unit precision."""
    units = price * TOKEN_UNITS_PER_EUR
    if units != units.to_integral_value():
        raise ValueError(f"price {price} EUR/kWh has more than 6 decimals: not a whole number of token units")
    return int(units)
