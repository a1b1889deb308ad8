"""Check one interval's archive document against the chain.

The document must be this community's and this interval's; every leaf must
re-verify from its signed readings (backend.audit.leaf_checks) and chain on
from the meter's previous entry; the root of the recomputed leaves must be
the readingsRoot of IntervalSettled; the leaves' households and amounts must
be exactly the HouseholdSettled events; and each leaf's meter must have been
the household's in the CommunityRegistry.
"""

from __future__ import annotations

from itertools import pairwise

from backend.audit.archive_source import ArchiveMissing, ArchiveSource
from backend.audit.chain_view import ChainView, SettledInterval
from backend.audit.leaf_checks import check_archived_leaf, check_continuity, hex0x, recompute_leaf_hash
from backend.audit.verified_readings import VerifiedReadings, verified_under
from backend.market.orderbook import address_key
from backend.protocol.archive import ArchivedInterval, ArchivedLeaf, ArchiveMalformed
from backend.protocol.merkle import MerkleTree
from backend.protocol.readings import MeterDomain


def check_archive(
    document: ArchivedInterval,
    settled: SettledInterval,
    chain: ChainView,
    archive: ArchiveSource,
    domain: MeterDomain,
    verified: VerifiedReadings | None = None,
) -> list[str]:
    """Every difference between the document and the chain, as short sentences. `verified`
    (one per audit run) remembers each signed reading's signer across intervals."""
    verified = verified_under(domain, verified)
    # The interval's id and bounds come from the chain: the document's own header is only compared.
    interval_id = settled.interval_id
    start, end = interval_bounds(chain, interval_id)
    problems = _check_header(document, settled, chain)
    problems += _check_leaf_order(document)
    for leaf in document.leaves:
        leaf_problems = _check_leaf_history(leaf, interval_id, archive, chain)
        previous = _previous_leaf(leaf, interval_id, archive, leaf_problems)
        leaf_problems += check_archived_leaf(
            leaf,
            interval_id,
            start,
            end,
            domain,
            None if previous is None else previous.end_registers,
            document.readings_root,
            verified,
        )
        if previous is not None:
            _, previous_end = interval_bounds(chain, leaf.previous_interval)
            leaf_problems += check_continuity(leaf, previous, previous_end)
        leaf_problems += _check_meter_registered(leaf, settled, chain)
        problems += [f"leaf {leaf.household}: {problem}" for problem in leaf_problems]
    problems += _check_root(document, settled, domain, verified)
    problems += _check_entries(document, settled)
    return problems


def interval_bounds(chain: ChainView, interval_id: int) -> tuple[int, int]:
    """(S, E) in unix seconds, from the registry's interval length."""
    start = interval_id * chain.interval_seconds
    return start, start + chain.interval_seconds


def _check_header(document: ArchivedInterval, settled: SettledInterval, chain: ChainView) -> list[str]:
    deployment = chain.deployment
    expected_start, expected_end = interval_bounds(chain, settled.interval_id)
    checks = [
        ("chainId", document.chain_id, deployment.chain_id),
        ("registry", document.registry, deployment.address("CommunityRegistry")),
        ("market", document.market, deployment.address("EnergyMarket")),
        ("intervalId", document.interval_id, settled.interval_id),
        ("intervalSeconds", document.interval_seconds, chain.interval_seconds),
        ("start", document.start, expected_start),
        ("end", document.end, expected_end),
        ("clearingPrice", document.clearing_price, settled.clearing_price),
    ]
    problems = [
        f"archive {name} is {stated}, the chain says {actual}"
        for name, stated, actual in checks
        if str(stated).lower() != str(actual).lower()
    ]
    if document.readings_root != settled.readings_root:
        problems.append(
            f"archive readingsRoot is {hex0x(document.readings_root)}, "
            f"IntervalSettled says {hex0x(settled.readings_root)}"
        )
    if sorted(document.settlement_txs) != sorted(settled.tx_hashes):
        problems.append(
            f"archive settlementTxs are {list(document.settlement_txs)}, "
            f"the chain's settlement transactions are {settled.tx_hashes}"
        )
    return problems


def _check_leaf_order(document: ArchivedInterval) -> list[str]:
    problems = []
    for previous, current in pairwise(document.leaves):
        if address_key(current.household) <= address_key(previous.household):
            problems.append(
                f"leaves are not sorted by household with no repeats: {current.household} follows {previous.household}"
            )
    return problems


def _previous_leaf(
    leaf: ArchivedLeaf, interval_id: int, archive: ArchiveSource, problems: list[str]
) -> ArchivedLeaf | None:
    """The meter's leaf in previousInterval; a problem when it cannot be found."""
    previous = leaf.previous_interval
    if previous is None:
        return None
    if previous >= interval_id:
        problems.append(f"previousInterval {previous} is not before this interval")
        return None
    try:
        previous_leaf = archive.leaf_of_meter(previous, leaf.meter)
    except (ArchiveMissing, ArchiveMalformed) as error:
        problems.append(
            f"startRegisters cannot be checked: previous interval {previous}'s archive is unusable ({error})"
        )
        return None
    if previous_leaf is None:
        problems.append(f"previousInterval {previous} has no leaf for meter {leaf.meter}")
    return previous_leaf


def _check_leaf_history(leaf: ArchivedLeaf, interval_id: int, archive: ArchiveSource, chain: ChainView) -> list[str]:
    """No entry of the same meter may sit between previousInterval and this interval: its
    energy would be counted twice. The household's settled intervals say where to look."""
    problems = []
    lower = -1 if leaf.previous_interval is None else leaf.previous_interval
    for between in chain.intervals_settled_for(leaf.household, after=lower, before=interval_id):
        try:
            other = archive.leaf_of_meter(between, leaf.meter)
        except (ArchiveMissing, ArchiveMalformed):
            continue  # that interval's own audit reports its archive
        if other is not None:
            stated = "null" if leaf.previous_interval is None else str(leaf.previous_interval)
            problems.append(
                f"previousInterval is {stated}, but meter {leaf.meter} also has an entry in "
                f"interval {between} (its energy would count twice)"
            )
    return problems


def _check_meter_registered(leaf: ArchivedLeaf, settled: SettledInterval, chain: ChainView) -> list[str]:
    """The meter must have been registered to the household by the settlement, and, if it
    was replaced since, the energy it reports must have been metered before that: an old
    meter keeps its entries while it has energy to attribute (the closing rule)."""
    block = settled.first_block
    history = chain.meter_assignments(leaf.meter, block)
    mine = [a for a in history if a.household == leaf.household]
    if not mine:
        owners = sorted({a.household for a in history})
        owner_text = f"it is registered to {', '.join(owners)}" if owners else "it is not registered"
        return [f"meter {leaf.meter} is not household {leaf.household}'s at block {block}: {owner_text}"]
    current = mine[-1]
    if current.until_block is None or current.until_block > block:
        return []
    retired_at = chain.block_timestamp(current.until_block)
    _, end = interval_bounds(chain, settled.interval_id)
    late = [s.reading for s in leaf.readings if retired_at < s.reading.ts <= end]
    if late:
        return [
            f"meter {leaf.meter} was replaced at block {current.until_block} (ts {retired_at}), "
            f"before its reading seq {late[0].seq} (ts {late[0].ts})"
        ]
    return []


def _check_root(
    document: ArchivedInterval, settled: SettledInterval, domain: MeterDomain, verified: VerifiedReadings
) -> list[str]:
    hashes = [recompute_leaf_hash(leaf, settled.interval_id, domain, verified) for leaf in document.leaves]
    if not hashes:
        if settled.readings_root == bytes(32) and not settled.entries:
            return []
        return [f"archive has no leaves, IntervalSettled readingsRoot is {hex0x(settled.readings_root)}"]
    if any(h is None for h in hashes) or len(set(hashes)) != len(hashes):
        return ["root cannot be recomputed (a leaf's readings do not hash, or two leaves are identical)"]
    root = MerkleTree(hashes).root
    if root != settled.readings_root:
        return [
            f"root recomputed from the readings is {hex0x(root)}, "
            f"IntervalSettled readingsRoot is {hex0x(settled.readings_root)}"
        ]
    return []


def _check_entries(document: ArchivedInterval, settled: SettledInterval) -> list[str]:
    problems = []
    leaves = {leaf.household: leaf for leaf in document.leaves}
    entries = {entry.household: entry for entry in settled.entries}
    if len(entries) != len(settled.entries):
        problems.append("a household is settled twice on-chain in this interval")
    for household in sorted(entries.keys() - leaves.keys(), key=address_key):
        problems.append(f"household {household} is settled on-chain but has no leaf in the archive")
    for household in sorted(leaves.keys() - entries.keys(), key=address_key):
        problems.append(f"leaf {household} has no HouseholdSettled event on-chain")
    for household in sorted(leaves.keys() & entries.keys(), key=address_key):
        leaf, entry = leaves[household], entries[household]
        if (leaf.produced_wh, leaf.consumed_wh) != (entry.produced_wh, entry.consumed_wh):
            problems.append(
                f"leaf {household}: producedWh/consumedWh {leaf.produced_wh}/{leaf.consumed_wh}, "
                f"HouseholdSettled says {entry.produced_wh}/{entry.consumed_wh}"
            )
    return problems
