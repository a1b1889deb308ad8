"""The chains a community can be deployed to: chain id, EVM level, and where its RPC URL comes from.

`vatio deploy --network NAME` reads the node's URL from VATIO_RPC_URL_<NAME>
(e.g. VATIO_RPC_URL_CHIADO), else VATIO_RPC_URL; `--rpc-url` overrides both.
The node's chain id must be the network's: a URL that points at another chain
is refused before anything is signed. docs/networks.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOCAL_CHAIN_IDS", "NETWORKS", "Network", "NetworkMismatch", "network_named"]

LOCAL_CHAIN_IDS = frozenset({31337, 1337})  # Anvil, and Hardhat/Ganache-style development chains


class NetworkMismatch(ValueError):
    """The node answers for another chain than the network asked for."""


@dataclass(frozen=True)
class Network:
    name: str
    chain_ids: frozenset[int]
    evm_version: str  # which build runs there (backend/chain/artifacts.py)
    testnet: bool
    description: str

    @property
    def rpc_url_variable(self) -> str:
        return f"VATIO_RPC_URL_{self.name.upper()}"

    @property
    def local(self) -> bool:
        return self.chain_ids <= LOCAL_CHAIN_IDS

    def check_chain_id(self, chain_id: int) -> None:
        """Raise NetworkMismatch unless the node's `chain_id` is this network's."""
        if chain_id not in self.chain_ids:
            expected = " or ".join(str(c) for c in sorted(self.chain_ids))
            raise NetworkMismatch(
                f"the node at {self.rpc_url_variable} (or --rpc-url) is on chain {chain_id}, "
                f"but {self.name} is chain {expected}: refusing to deploy there"
            )


NETWORKS = {
    network.name: network
    for network in (
        Network("local", LOCAL_CHAIN_IDS, "cancun", True, "Anvil on this machine (`vatio chain`): development, demo"),
        Network("chiado", frozenset({10200}), "cancun", True, "Gnosis testnet: a pilot with test xDAI and test euros"),
        Network("gnosis", frozenset({100}), "cancun", False, "Gnosis Chain: a live community paying in EURe"),
        Network(
            "volta", frozenset({73799}), "london", True, "Energy Web testnet: a pilot on the energy sector's chain"
        ),
        Network("ewc", frozenset({246}), "london", False, "Energy Web Chain: a live community among energy utilities"),
    )
}


def network_named(name: str) -> Network:
    try:
        return NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r}: one of {', '.join(NETWORKS)}") from None
