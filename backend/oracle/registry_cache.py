"""The oracle's view of which meters exist, following CommunityRegistry events.

It replays HouseholdRegistered, MeterReplaced and HouseholdActiveSet from the
deployment block and then only new blocks, so a meter registered a moment
ago is known at the next refresh (the ingester refreshes when it meets an
unknown meter, at most once per `min_refresh_s`).
"""

from __future__ import annotations

import time

from web3 import Web3

from backend.chain.deploy import Deployment
from backend.oracle.verifier import MeterInfo


class RegistryCache:
    def __init__(self, web3: Web3, deployment: Deployment, min_refresh_s: float = 1.0):
        self.registry = deployment.contract(web3, "CommunityRegistry")
        self.web3 = web3
        self.next_block = deployment.deploy_block
        self.min_refresh_s = min_refresh_s
        self._last_refresh = 0.0
        self.meters: dict[str, MeterInfo] = {}
        self._household_meter: dict[str, str] = {}
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> bool:
        """Applies the registry events since the last refresh; False when throttled."""
        if not force and time.monotonic() - self._last_refresh < self.min_refresh_s:
            return False
        self._last_refresh = time.monotonic()
        head = self.web3.eth.block_number
        if head < self.next_block:
            return True
        events = []
        for event in (
            self.registry.events.HouseholdRegistered,
            self.registry.events.MeterReplaced,
            self.registry.events.HouseholdActiveSet,
        ):
            events += event.get_logs(from_block=self.next_block, to_block=head)
        for log in sorted(events, key=lambda e: (e["blockNumber"], e["logIndex"])):
            self._apply(log["event"], log["args"])
        self.next_block = head + 1
        return True

    def _apply(self, name: str, args) -> None:
        if name == "HouseholdRegistered":
            info = MeterInfo(args["meter"], args["household"], args["capacityW"], True)
            self.meters[info.meter] = info
            self._household_meter[info.household] = info.meter
        elif name == "MeterReplaced":
            old = self.meters.pop(args["oldMeter"])
            new = MeterInfo(args["newMeter"], old.household, old.capacity_w, old.active)
            self.meters[new.meter] = new
            self._household_meter[new.household] = new.meter
        elif name == "HouseholdActiveSet":
            meter = self._household_meter[args["household"]]
            old = self.meters[meter]
            self.meters[meter] = MeterInfo(old.meter, old.household, old.capacity_w, args["active"])

    def lookup(self, meter: str) -> MeterInfo | None:
        if meter not in self.meters:
            self.refresh()
        return self.meters.get(meter)
