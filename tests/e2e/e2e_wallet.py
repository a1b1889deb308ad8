"""An injected test wallet: an EIP-1193 provider in the page whose requests a Python signer answers.

The page sees `window.ethereum` and an EIP-6963 announcement, like MetaMask.
Each request goes through a Playwright binding to `InjectedWallet.handle`,
which signs with an Anvil key (eth-account) and sends transactions to the
node. It records every transaction it sent, so a test can assert that a bad
order sent none, and it can refuse the next request as a person would.
"""

from __future__ import annotations

import json
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from web3 import Web3

from backend.chain.anvil import rpc_call

BINDING = "__vatioTestWallet"

PROVIDER_SHIM = """
(() => {
  const listeners = {};
  const provider = {
    isVatioTestWallet: true,
    async request({ method, params }) {
      const answer = JSON.parse(await window.%(binding)s(method, JSON.stringify(params ?? [])));
      if (answer.error) {
        const error = new Error(answer.error.message);
        error.code = answer.error.code;
        throw error;
      }
      return answer.result;
    },
    on(event, listener) { (listeners[event] ??= []).push(listener); },
    removeListener(event, listener) { listeners[event] = (listeners[event] ?? []).filter((l) => l !== listener); },
  };
  const info = Object.freeze({ uuid: "0b7c1d2e-vatio-test", name: "Vatio Test Wallet", rdns: "org.vatio.testwallet",
    icon: "data:image/svg+xml,%%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 8 8'%%3E%%3Ccircle cx='4' cy='4' r='4' fill='green'/%%3E%%3C/svg%%3E" });
  window.ethereum = provider;
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
""" % {"binding": BINDING}


class WalletError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class InjectedWallet:
    """Answers the page's EIP-1193 requests for one account."""

    def __init__(self, account: LocalAccount, rpc_url: str, chain_id: int):
        self.account = account
        self.rpc_url = rpc_url
        self.chain_id = chain_id
        self.web3 = Web3(Web3.HTTPProvider(rpc_url))
        self.sent: list[dict] = []  # every transaction sent: {"to", "data", "hash"}
        self.signed_messages = 0
        self.reject_next = False

    @property
    def address(self) -> str:
        return self.account.address

    def install(self, context) -> None:
        """Put the provider in every page of a Playwright browser context."""
        context.expose_function(BINDING, self.binding)
        context.add_init_script(PROVIDER_SHIM)

    def binding(self, method: str, params_json: str) -> str:
        try:
            return json.dumps({"result": self.handle(method, json.loads(params_json))})
        except WalletError as error:
            return json.dumps({"error": {"code": error.code, "message": str(error)}})
        except Exception as error:  # noqa: BLE001 - report it to the page as the node's error
            return json.dumps({"error": {"code": -32603, "message": f"{type(error).__name__}: {error}"}})

    def handle(self, method: str, params: list[Any]) -> Any:
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.address]
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method in ("wallet_switchEthereumChain", "wallet_addEthereumChain"):
            if int(params[0]["chainId"], 16) != self.chain_id:
                raise WalletError(4902, "unknown chain")
            return None
        if method in ("personal_sign", "eth_signTypedData_v4", "eth_sendTransaction") and self.reject_next:
            self.reject_next = False
            raise WalletError(4001, "User rejected the request.")
        if method == "personal_sign":
            self.signed_messages += 1
            signed = self.account.sign_message(encode_defunct(hexstr=params[0]))
            return "0x" + signed.signature.hex().removeprefix("0x")
        if method == "eth_signTypedData_v4":
            signed = self.account.sign_typed_data(full_message=json.loads(params[1]))
            return "0x" + signed.signature.hex().removeprefix("0x")
        if method == "eth_sendTransaction":
            return self._send(params[0])
        return rpc_call(self.rpc_url, method, params, timeout=10.0)

    def _send(self, request: dict) -> str:
        if Web3.to_checksum_address(request["from"]) != self.address:
            raise WalletError(4100, "unknown sender")
        transaction = {
            "from": self.address,
            "to": Web3.to_checksum_address(request["to"]),
            "data": request.get("data", "0x"),
            "value": int(request.get("value", "0x0"), 16),
            "chainId": self.chain_id,
            "nonce": self.web3.eth.get_transaction_count(self.address, "pending"),
        }
        transaction["gas"] = int(self.web3.eth.estimate_gas(transaction) * 1.3)
        base_fee = self.web3.eth.get_block("latest")["baseFeePerGas"]
        transaction["maxPriorityFeePerGas"] = Web3.to_wei(1, "gwei")
        transaction["maxFeePerGas"] = base_fee * 2 + transaction["maxPriorityFeePerGas"]
        signed = self.account.sign_transaction(transaction)
        tx_hash = "0x" + self.web3.eth.send_raw_transaction(signed.raw_transaction).hex().removeprefix("0x")
        self.sent.append({"to": transaction["to"], "data": transaction["data"], "hash": tx_hash})
        return tx_hash


def anvil_account(index: int) -> LocalAccount:
    """Anvil's funded account `index` of the default mnemonic."""
    Account.enable_unaudited_hdwallet_features()
    from backend.chain.anvil import ANVIL_MNEMONIC

    return Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
