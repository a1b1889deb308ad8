"""The members of a shared installation: the members file, and static coefficients by the usual rules.

The members file is CSV with a header: ``cups,min_share,max_share,static_share,contracted_kw``. Shares are
fractions of 1 with at most 6 decimals; ``static_share`` may be left empty, and then the static shares are
proportional to ``contracted_kw`` (the rule most agreements use besides equal shares).
"""

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from backend.coefficients.allocation import largest_remainder
from backend.coefficients.cups import CupsError, validate_cups
from backend.coefficients.planner import MemberTerms
from backend.coefficients.rounding import MICRO

COLUMNS = ("cups", "min_share", "max_share", "static_share", "contracted_kw")


class MembersFileError(ValueError):
    """A members file that cannot be used."""


@dataclass(frozen=True)
class Member:
    cups: str
    min_micro: int
    max_micro: int
    static_micro: int | None  # None: from the rule the command chooses
    contracted_kw: float


def share_micro(text: str, where: str) -> int:
    """A share of 1 with at most 6 decimals, in millionths."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as error:
        raise MembersFileError(f"{where}: {text!r} is not a number") from error
    micro = value * MICRO
    if micro != micro.to_integral_value() or not 0 <= micro <= MICRO:
        raise MembersFileError(f"{where}: {text!r} is not a share from 0 to 1 with at most 6 decimals")
    return int(micro)


def read_members(path: Path) -> list[Member]:
    """Read and check a members file."""
    with path.open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        if reader.fieldnames is None or set(COLUMNS) - set(reader.fieldnames):
            raise MembersFileError(f"{path.name}: the header must name {', '.join(COLUMNS)}")
        members = []
        for number, row in enumerate(reader, start=2):
            where = f"{path.name} line {number}"
            try:
                cups = validate_cups(row["cups"].strip())
            except CupsError as error:
                raise MembersFileError(f"{where}: {error}") from error
            try:
                contracted_kw = float(row["contracted_kw"])
            except ValueError as error:
                raise MembersFileError(f"{where}: contracted_kw {row['contracted_kw']!r} is not a number") from error
            if not contracted_kw > 0:
                raise MembersFileError(f"{where}: contracted_kw must be above 0")
            static = row["static_share"].strip()
            members.append(
                Member(
                    cups,
                    share_micro(row["min_share"], where),
                    share_micro(row["max_share"], where),
                    share_micro(static, where) if static else None,
                    contracted_kw,
                )
            )
    if not members:
        raise MembersFileError(f"{path.name}: no members")
    if len({m.cups for m in members}) != len(members):
        raise MembersFileError(f"{path.name}: a CUPS is listed twice")
    return sorted(members, key=lambda m: m.cups)


def write_members(path: Path, members: Sequence[Member]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for m in members:
            static = "" if m.static_micro is None else f"{m.static_micro / MICRO:.6f}"
            writer.writerow(
                [m.cups, f"{m.min_micro / MICRO:.6f}", f"{m.max_micro / MICRO:.6f}", static, f"{m.contracted_kw:g}"]
            )


def equal_shares(cups: Sequence[str]) -> list[int]:
    """Equal static shares in millionths (the remainder rule settles the odd millionths)."""
    return largest_remainder(MICRO, [1] * len(cups), list(cups))


def proportional_shares(cups: Sequence[str], weights: Sequence[float]) -> list[int]:
    """Static shares in millionths proportional to positive weights (contracted kW, investment), to 1/1000 kW."""
    return largest_remainder(MICRO, [round(w * 1000) for w in weights], list(cups))


def member_terms(members: Sequence[Member], rule: str = "file") -> list[MemberTerms]:
    """The planner's terms; static shares from the file, or by ``rule`` = ``equal`` or ``power``."""
    cups = [m.cups for m in members]
    if rule == "file":
        if any(m.static_micro is None for m in members):
            rule = "power"
        else:
            static = [m.static_micro for m in members]
    if rule == "equal":
        static = equal_shares(cups)
    elif rule == "power":
        static = proportional_shares(cups, [m.contracted_kw for m in members])
    elif rule != "file":
        raise ValueError(f"the static rule is file, equal or power, not {rule!r}")
    terms = [MemberTerms(m.cups, m.min_micro, m.max_micro, s) for m, s in zip(members, static, strict=True)]
    for t in terms:
        if not t.min_micro <= t.static_micro <= t.max_micro:
            raise MembersFileError(
                f"{t.member}: its static share {t.static_micro / MICRO} is outside its bounds "
                f"[{t.min_micro / MICRO}, {t.max_micro / MICRO}]"
            )
    return terms
