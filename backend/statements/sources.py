"""Where a month's statement events come from: the indexer's database (the generator) or a node (the auditor).

Both give `compose.MonthEvents`; nothing else differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from backend.statements.columns import FillColumns, SettledColumns, int_column
from backend.statements.compose import Closed, FillEvent, MonthEvents, Registered, Settled, VersionAdded

WINDOWED = ("HouseholdSettled", "Filled", "IntervalSettled")  # filtered to the month's intervals
WHOLE = ("HouseholdRegistered", "TariffVersionAdded")  # every one ever


def _bytes32(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


def normalize(event: str, args: Mapping[str, Any], tx_hash: str):
    """One decoded event (database JSON or web3 args) as a compose event."""
    if event == "HouseholdSettled":
        return Settled(
            int(args["intervalId"]), str(args["household"]), int(args["producedWh"]), int(args["consumedWh"])
        )
    if event == "Filled":
        return FillEvent(
            int(args["intervalId"]),
            str(args["household"]),
            int(args["side"]),
            int(args["amountWh"]),
            int(args["value"]),
        )
    if event == "IntervalSettled":
        return Closed(int(args["intervalId"]), tx_hash.lower())
    if event == "HouseholdRegistered":
        return Registered(str(args["household"]), int(args["capacityW"]))
    if event == "TariffVersionAdded":
        return VersionAdded(int(args["version"]), _bytes32(args["scheduleHash"]), int(args["effectiveFrom"]))
    raise ValueError(f"not a statement event: {event}")


def collect(interval_seconds: int, items: Iterable[tuple[str, Mapping[str, Any], str]], window: range) -> MonthEvents:
    events = MonthEvents(interval_seconds)
    for name, args, tx_hash in items:
        if name in WINDOWED and int(args["intervalId"]) not in window:
            continue
        events.add(normalize(name, args, tx_hash))
    return events


# The argument columns read for each event, as text (no JSON decoded in Python: a month of 1,000 households is
# about 4 million rows).
_DB_COLUMNS = {
    "HouseholdSettled": ("intervalId", "household", "producedWh", "consumedWh"),
    "Filled": ("intervalId", "household", "side", "amountWh", "value"),
    "IntervalSettled": ("intervalId",),
    "HouseholdRegistered": ("household", "capacityW"),
    "TariffVersionAdded": ("version", "scheduleHash", "effectiveFrom"),
}


def _columns_of(connection, query, width: int) -> list[list]:
    """The query's result as one tuple per column, from the DBAPI cursor (SQLAlchemy rows cost more per row than
    everything else here). The query holds only integers and names of our own, rendered as literals."""
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return [[row[i] for row in rows] for i in range(width)]


def events_from_db(session, interval_seconds: int, window: range) -> MonthEvents:
    """From the indexer's chain_events table (SQLite or PostgreSQL): the month's settlements, every registration
    and tariff version. The settlements and fills come as columns: one query per event type, only the fields
    used, fetched as plain tuples from the driver's cursor (about 3 million rows for 1,000 households)."""
    from sqlalchemy import BigInteger, cast, select

    from backend.db.models import ChainEvent

    events = MonthEvents(interval_seconds)
    interval_id = cast(ChainEvent.args["intervalId"].as_string(), BigInteger)
    connection = session.connection()
    for name, columns in _DB_COLUMNS.items():
        query = select(*(ChainEvent.args[c].as_string() for c in columns), ChainEvent.tx_hash).where(
            ChainEvent.event == name
        )
        if name in WINDOWED:
            query = query.where(interval_id >= window.start, interval_id < window.stop)
        query = query.order_by(ChainEvent.block_number, ChainEvent.log_index)
        if name in ("HouseholdSettled", "Filled"):
            values = _columns_of(connection, query, len(columns) + 1)
            if name == "HouseholdSettled":
                ids, households, produced, consumed, _ = values
                events.settled = SettledColumns(
                    int_column(ids), list(households), int_column(produced), int_column(consumed)
                )
            else:
                ids, households, side, amount, value, _ = values
                events.fills = FillColumns(
                    int_column(ids), list(households), int_column(side), int_column(amount), int_column(value)
                )
            continue
        for *values, tx_hash in connection.execute(query).all():
            events.add(normalize(name, dict(zip(columns, values, strict=True)), tx_hash))
    return events


def events_from_chain(
    web3, deployment, window: range, blocks_per_query: int = 10_000, head: int | None = None
) -> MonthEvents:
    """From a node's logs (eth_getLogs), as the auditor trusts them; the settlement events filtered by interval
    id on the node (their intervalId topic)."""
    registry = deployment.contract(web3, "CommunityRegistry")
    market = deployment.contract(web3, "EnergyMarket")
    head = web3.eth.block_number if head is None else head
    interval_seconds = registry.functions.intervalSeconds().call(block_identifier=head)

    def logs(event, filters=None):
        found = []
        start = deployment.deploy_block
        while start <= head:
            end = min(start + blocks_per_query - 1, head)
            found += event.get_logs(from_block=start, to_block=end, argument_filters=filters)
            start = end + 1
        return found

    items = []
    for log in logs(registry.events.HouseholdRegistered) + logs(registry.events.TariffVersionAdded):
        items.append((log["event"], log["args"], web3.to_hex(log["transactionHash"])))
    for event in (market.events.HouseholdSettled, market.events.Filled, market.events.IntervalSettled):
        for log in logs(event):
            if log["args"]["intervalId"] in window:
                items.append((log["event"], log["args"], web3.to_hex(log["transactionHash"])))
    return collect(interval_seconds, items, window)
