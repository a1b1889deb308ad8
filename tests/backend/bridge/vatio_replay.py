"""A local HTTP server replaying Vatio's public web API and the community's contracts (JSON-RPC) from a fixture.

GET /api/... answers the fixture's recorded body for that path (and records the query it was asked
with); POST /rpc answers eth_chainId, eth_blockNumber, eth_call (the function decoded with the
contract's real ABI, the answer encoded with its real output types) and eth_getLogs (Filled events
matching the filter's block range and topics), as a node would.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from eth_utils.abi import get_abi_output_types
from web3 import Web3

from backend.chain.artifacts import load_artifact
from backend.chain.deploy import Deployment

CONTRACTS = ("CommunityRegistry", "EnergyToken", "Euro", "EnergyMarket")
ABI_NAMES = {"Euro": "TestEuro"}


def deployment_from(fixture: dict) -> Deployment:
    """A deployment file's content for the fixture's chain, with the build's real ABIs."""
    chain = fixture["chain"]
    return Deployment(
        chain_id=chain["chainId"],
        deploy_block=chain["deployBlock"],
        contracts={
            name: {"address": chain["addresses"][name], "abi": load_artifact(ABI_NAMES.get(name, name)).abi}
            for name in CONTRACTS
        },
        settings={"intervalSeconds": chain["intervalSeconds"]},
    )


class VatioReplay:
    """The server; ``url`` is the web app's base URL, ``rpc_url`` the node's."""

    def __init__(self, fixture: dict) -> None:
        self.fixture = fixture
        self.deployment = deployment_from(fixture)
        self.web3 = Web3()
        self.contracts = {
            chain_address.lower(): self.deployment.contract(self.web3, name)
            for name, chain_address in ((n, fixture["chain"]["addresses"][n]) for n in CONTRACTS)
        }
        self.queries: list[tuple[str, dict]] = []
        self.rpc_methods: list[str] = []
        self.fail_api = False
        # path -> the bearer token it needs (a household's private endpoint); the Authorization header of each GET
        self.private: dict[str, str] = {}
        self.authorizations: list[tuple[str, str | None]] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                replay.queries.append((url.path, {k: v[0] for k, v in parse_qs(url.query).items()}))
                recorded = replay.fixture["api"].get(url.path)
                authorization = self.headers.get("Authorization")
                replay.authorizations.append((url.path, authorization))
                needed = replay.private.get(url.path)
                if needed is not None and authorization != f"Bearer {needed}":
                    self._answer(
                        401,
                        {
                            "error": {
                                "code": "invalid_token",
                                "message": "this household API token is unknown or revoked",
                            }
                        },
                    )
                elif replay.fail_api:
                    self._answer(503, {"error": {"code": "unavailable", "message": "replay told to fail"}})
                elif recorded is None:
                    self._answer(404, {"error": {"code": "not_found", "message": url.path}})
                else:
                    self._answer(200, recorded)

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                replay.rpc_methods.append(request["method"])
                try:
                    result = replay.rpc(request["method"], request.get("params") or [])
                    self._answer(200, {"jsonrpc": "2.0", "id": request["id"], "result": result})
                except LookupError as error:
                    self._answer(
                        200, {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": str(error)}}
                    )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.rpc_url = f"{self.url}/rpc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def rpc(self, method: str, params: list):
        chain = self.fixture["chain"]
        if method == "eth_chainId":
            return hex(chain["chainId"])
        if method == "eth_blockNumber":
            return hex(chain["blockNumber"])
        if method == "eth_call":
            return self._call(params[0])
        if method == "eth_getLogs":
            return self._logs(params[0])
        raise LookupError(f"method {method} not replayed")

    def _call(self, call: dict) -> str:
        contract = self.contracts[call["to"].lower()]
        function, args = contract.decode_function_input(call.get("data") or call.get("input"))
        name = function.fn_name
        chain = self.fixture["chain"]
        if name in ("retailPrice", "feedInPrice"):
            values = [chain["tariffs"][name]]
        elif name in ("balanceOf", "getAccount"):
            balances = chain["balances"].get(to_checksum_address(next(iter(args.values()))), {})
            if name == "getAccount":
                values = [
                    (balances.get("marketEuro", 0), balances.get("autoSellPrice", 0), balances.get("autoBuyPrice", 0))
                ]
            else:
                token = next(n for n in CONTRACTS if chain["addresses"][n].lower() == call["to"].lower())
                values = [balances.get("energyWh" if token == "EnergyToken" else "walletEuro", 0)]
        else:
            raise LookupError(f"{name} not replayed")
        return "0x" + encode(get_abi_output_types(function.abi), values).hex()

    def _logs(self, query: dict) -> list[dict]:
        market = self.deployment.contracts["EnergyMarket"]
        event_abi = next(x for x in market["abi"] if x.get("type") == "event" and x["name"] == "Filled")
        signature = "0x" + keccak(text="Filled(uint64,uint256,address,uint8,uint256,uint256)").hex()
        first, last = int(query["fromBlock"], 16), int(query["toBlock"], 16)
        wanted = query.get("topics") or []
        addresses = query.get("address") or []
        addresses = [addresses] if isinstance(addresses, str) else addresses
        if market["address"].lower() not in [a.lower() for a in addresses] or (wanted and wanted[0] != signature):
            return []
        assert event_abi["inputs"][2]["name"] == "household"
        logs = []
        for index, fill in enumerate(self.fixture["chain"]["fills"]):
            topics = [
                signature,
                "0x" + encode(["uint64"], [fill["intervalId"]]).hex(),
                "0x" + encode(["uint256"], [fill["orderId"]]).hex(),
                "0x" + encode(["address"], [fill["household"]]).hex(),
            ]
            if not first <= fill["block"] <= last:
                continue
            if any(
                want is not None and (topics[i] not in want if isinstance(want, list) else topics[i] != want)
                for i, want in enumerate(wanted)
            ):
                continue
            logs.append(
                {
                    "address": market["address"],
                    "topics": topics,
                    "data": "0x"
                    + encode(["uint8", "uint256", "uint256"], [fill["side"], fill["amountWh"], fill["value"]]).hex(),
                    "blockNumber": hex(fill["block"]),
                    "blockHash": "0x" + "ab" * 32,
                    "transactionHash": "0x" + f"{index + 1:064x}",
                    "transactionIndex": "0x0",
                    "logIndex": hex(index),
                    "removed": False,
                }
            )
        return logs

    def write_deployment(self, path: Path) -> Path:
        path.write_text(json.dumps(self.deployment.to_json()))
        return path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
