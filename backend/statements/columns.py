"""A month's settlement events as numpy columns, and each member's settled intervals grouped from them.

A month of 1,000 households is about 3 million HouseholdSettled events: one Python object per event (and
per-interval Fraction sums) made statements take minutes. Here the events are integer columns, grouped
once per month, and a member's bill and KPIs come from column sums (compose.py). The sums are exact:
int64 while every value is below 2**40 (a month's sums then stay far inside int64), else Python integers
in object columns, which the same numpy operations handle exactly, only slower.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from backend.tariffs.billing import IntervalEnergy

SMALL = 1 << 40


def int_column(values: Sequence) -> np.ndarray:
    """Integers (or their decimal strings) as an exact column."""
    try:
        column = np.array(values, dtype=np.int64)  # parses decimal strings too
    except (OverflowError, ValueError, TypeError):
        column = None
    if column is None or (column.size and (int(column.max()) >= SMALL or int(column.min()) <= -SMALL)):
        return np.array([int(v) for v in values], dtype=object)
    return column


@dataclass
class SettledColumns:
    """HouseholdSettled events in event order: interval id, household, produced and consumed Wh."""

    interval_id: np.ndarray
    household: list[str]
    produced_wh: np.ndarray
    consumed_wh: np.ndarray

    def __len__(self) -> int:
        return len(self.household)

    def __iter__(self) -> Iterator:
        from backend.statements.compose import Settled

        columns = (self.interval_id.tolist(), self.household, self.produced_wh.tolist(), self.consumed_wh.tolist())
        return (Settled(*row) for row in zip(*columns, strict=True))

    @classmethod
    def of(cls, settled) -> SettledColumns:
        if isinstance(settled, cls):
            return settled
        return cls(
            int_column([e.interval_id for e in settled]),
            [e.household for e in settled],
            int_column([e.produced_wh for e in settled]),
            int_column([e.consumed_wh for e in settled]),
        )


@dataclass
class FillColumns:
    """Filled events in event order: interval id, household, side (0 bought, else sold), Wh and value."""

    interval_id: np.ndarray
    household: list[str]
    side: np.ndarray
    amount_wh: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.household)

    def __iter__(self) -> Iterator:
        from backend.statements.compose import FillEvent

        columns = (
            self.interval_id.tolist(),
            self.household,
            self.side.tolist(),
            self.amount_wh.tolist(),
            self.value.tolist(),
        )
        return (FillEvent(*row) for row in zip(*columns, strict=True))

    @classmethod
    def of(cls, fills) -> FillColumns:
        if isinstance(fills, cls):
            return fills
        return cls(
            int_column([f.interval_id for f in fills]),
            [f.household for f in fills],
            int_column([f.side for f in fills]),
            int_column([f.amount_wh for f in fills]),
            int_column([f.value for f in fills]),
        )


_WRITTEN: dict[int, tuple[list[str], list[str]]] = {}  # the month's transactions as CSV fields


class SettledIntervals:
    """One member's settled intervals of the month, by interval id: slices of the month's columns."""

    FIELDS = ("interval_id", "produced_wh", "consumed_wh", "bought_wh", "bought_value", "sold_wh", "sold_value")

    def __init__(self, columns: dict[str, np.ndarray], offset: np.ndarray, tx_of: list[str]):
        self.columns = columns  # FIELDS -> column
        self.offset = offset  # interval id - the window's first
        self._tx_of = tx_of  # window offset -> the transaction that closed it

    def __len__(self) -> int:
        return len(self.offset)

    @property
    def tx_hashes(self) -> list[str]:
        tx_of = self._tx_of
        return [tx_of[o] for o in self.offset.tolist()]

    def _tx_written(self, field: Callable[[str], str]) -> list[str]:
        """The transactions as CSV fields; each interval's rendered once per month (shared by every member)."""
        cache = _WRITTEN.get(id(self._tx_of))
        if cache is None or cache[0] is not self._tx_of:
            cache = (self._tx_of, [field(tx) for tx in self._tx_of])
            _WRITTEN.clear()
            _WRITTEN[id(self._tx_of)] = cache
        written = cache[1]
        return [written[o] for o in self.offset.tolist()]

    def listing(self, field: Callable[[str], str] | None = None) -> Iterator[tuple[int, int, int, int, int, str]]:
        """(interval id, produced, consumed, bought, sold Wh, transaction) per interval; the transaction passed
        through `field` when given."""
        c = self.columns
        return zip(
            c["interval_id"].tolist(),
            c["produced_wh"].tolist(),
            c["consumed_wh"].tolist(),
            c["bought_wh"].tolist(),
            c["sold_wh"].tolist(),
            self.tx_hashes if field is None else self._tx_written(field),
            strict=True,
        )

    def entries(self) -> tuple[IntervalEnergy, ...]:
        columns = [self.columns[name].tolist() for name in self.FIELDS]
        return tuple(IntervalEnergy(*row) for row in zip(*columns, self.tx_hashes, strict=True))


@dataclass
class MonthTable:
    """The window's closed settlements with their trades, rows sorted by (member, interval id), event order kept
    between equal ones."""

    window: range
    members: list[str]  # lower-case household keys, sorted
    names: dict[str, str]  # key -> the household as its last settlement event spells it
    bounds: np.ndarray  # member i's rows are bounds[i]:bounds[i + 1]
    columns: dict[str, np.ndarray]  # SettledIntervals.FIELDS -> column
    offset: np.ndarray  # interval id - window.start
    tx_of: list[str]  # window offset -> closing transaction ("" when not closed)

    def rows_of(self, member_index: int) -> slice:
        return slice(int(self.bounds[member_index]), int(self.bounds[member_index + 1]))


def _codes(households: list[str], keys: dict[str, int], add: bool) -> np.ndarray:
    """Each household's ordinal in `keys` (lower-case key -> ordinal): new keys added when `add`, else -1."""
    seen: dict[str, int] = {}  # the spelling -> ordinal, so each distinct spelling is lower-cased once
    out = np.empty(len(households), dtype=np.int64)
    for i, name in enumerate(households):
        code = seen.get(name)
        if code is None:
            key = name.lower()
            if add:
                code = keys.setdefault(key, len(keys))
            else:
                code = keys.get(key, -1)
            seen[name] = code
        out[i] = code
    return out


def _in_window(ids: np.ndarray, window: range) -> np.ndarray:
    return (ids >= window.start) & (ids < window.stop)


def month_table(settled, fills, closed: dict[int, str], window: range) -> MonthTable:
    settled = SettledColumns.of(settled)
    fills = FillColumns.of(fills)
    width = len(window)
    tx_of = [closed.get(i, "") for i in window]
    is_closed = np.array([i in closed for i in window], dtype=bool)

    # The closed settlements in the window, in event order.
    ids = settled.interval_id
    inside = np.flatnonzero(_in_window(ids, window))
    offset = (ids[inside] - window.start).astype(np.int64)
    keep = is_closed[offset] if width else np.zeros(0, dtype=bool)
    rows, offset = inside[keep], offset[keep]
    names_of_rows = [settled.household[i] for i in rows.tolist()]
    ordinal: dict[str, int] = {}
    code = _codes(names_of_rows, ordinal, add=True)
    keys = list(ordinal)
    members = sorted(keys)
    rank = np.empty(len(keys), dtype=np.int64)
    rank[[ordinal[k] for k in members]] = np.arange(len(members))
    member = rank[code] if len(code) else code
    last = np.full(len(members), -1, dtype=np.int64)
    np.maximum.at(last, member, np.arange(len(rows)))  # a member's last event names it
    names = {members[m]: names_of_rows[int(i)] for m, i in enumerate(last.tolist())}

    # Trades per (member, interval): the fills in the window summed by side.
    fill_ids = fills.interval_id
    fill_inside = np.flatnonzero(_in_window(fill_ids, window))
    fill_member = _codes([fills.household[i] for i in fill_inside.tolist()], ordinal, add=False)
    known = fill_member >= 0
    fill_inside = fill_inside[known]
    fill_member = rank[fill_member[known]]
    fill_key = fill_member * width + (fill_ids[fill_inside] - window.start).astype(np.int64)
    row_key = member * width + offset
    trade_keys, inverse = np.unique(fill_key, return_inverse=True)
    at = np.searchsorted(trade_keys, row_key)
    found = at < len(trade_keys)
    found[found] = trade_keys[at[found]] == row_key[found]
    bought = fills.side[fill_inside] == 0
    trades = {}
    for name, source, side in (
        ("bought_wh", fills.amount_wh, bought),
        ("bought_value", fills.value, bought),
        ("sold_wh", fills.amount_wh, ~bought),
        ("sold_value", fills.value, ~bought),
    ):
        values = source[fill_inside]
        sums = np.zeros(len(trade_keys), dtype=values.dtype)
        np.add.at(sums, inverse[side], values[side])
        column = np.zeros(len(rows), dtype=values.dtype)
        column[found] = sums[at[found]]
        trades[name] = column

    order = np.argsort(row_key, kind="stable")
    columns = {
        "interval_id": ids[rows][order],
        "produced_wh": settled.produced_wh[rows][order],
        "consumed_wh": settled.consumed_wh[rows][order],
        **{name: column[order] for name, column in trades.items()},
    }
    bounds = np.searchsorted(member[order], np.arange(len(members) + 1))
    return MonthTable(window, members, names, bounds, columns, offset[order], tx_of)
