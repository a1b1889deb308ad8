"""One line per audited interval, a summary line, and the exit code.

    interval 1958400 OK (12 leaves, price 0.120 EUR/kWh, 3 fills)
    interval 1958401 FAIL: leaf 0xAb..: reading seq 17 signature recovers to 0x.., not meter 0x..; root ...
    interval 1958402 ERROR: cannot read state at block 811: ...

FAIL is a difference between the chain, the archive and the solver; ERROR
means a check could not be made (a node without old state). Exit code: 1 if
any interval failed, else 2 if any could not be checked, else 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.market.orderbook import WH_PER_KWH

EURO_UNITS = 10**6  # the payment token has 6 decimals
EXIT_OK, EXIT_DIFFERENCE, EXIT_UNCHECKED = 0, 1, 2
DEFAULT_PROBLEMS_SHOWN = 12


@dataclass
class IntervalResult:
    interval_id: int
    problems: list[str] = field(default_factory=list)  # differences found
    errors: list[str] = field(default_factory=list)  # checks that could not be made
    leaves: int = 0
    clearing_price: int = 0
    fills: int = 0

    @property
    def status(self) -> str:
        if self.problems:
            return "FAIL"
        return "ERROR" if self.errors else "OK"


def format_price(price_per_kwh: int) -> str:
    """Payment units per kWh as EUR/kWh on the 0.001 tick (exact integer formatting)."""
    units_per_tick = EURO_UNITS // WH_PER_KWH
    return f"{price_per_kwh // EURO_UNITS}.{price_per_kwh % EURO_UNITS // units_per_tick:03d} EUR/kWh" + (
        "" if price_per_kwh % units_per_tick == 0 else f" (+{price_per_kwh % units_per_tick} units)"
    )


def format_euros(units: int) -> str:
    return f"{units // EURO_UNITS}.{units % EURO_UNITS:06d} EUR"


def format_line(result: IntervalResult, max_problems: int | None = DEFAULT_PROBLEMS_SHOWN) -> str:
    if result.status == "OK":
        price = (
            "no trade"
            if result.clearing_price == 0 and result.fills == 0
            else (f"price {format_price(result.clearing_price)}")
        )
        fills = "1 fill" if result.fills == 1 else f"{result.fills} fills"
        leaves = "1 leaf" if result.leaves == 1 else f"{result.leaves} leaves"
        return f"interval {result.interval_id} OK ({leaves}, {price}, {fills})"
    findings = result.problems + result.errors
    shown = findings if max_problems is None else findings[:max_problems]
    text = "; ".join(shown)
    if len(shown) < len(findings):
        text += f"; and {len(findings) - len(shown)} more (--verbose lists all)"
    return f"interval {result.interval_id} {result.status}: {text}"


def format_summary(results: list[IntervalResult]) -> str:
    counts = {status: sum(r.status == status for r in results) for status in ("OK", "FAIL", "ERROR")}
    plural = "" if len(results) == 1 else "s"
    text = f"audited {len(results)} interval{plural}: {counts['OK']} OK, {counts['FAIL']} FAIL"
    if counts["ERROR"]:
        text += f", {counts['ERROR']} ERROR"
    return text


def exit_code(results: list[IntervalResult]) -> int:
    if any(r.status == "FAIL" for r in results):
        return EXIT_DIFFERENCE
    if any(r.status == "ERROR" for r in results):
        return EXIT_UNCHECKED
    return EXIT_OK
