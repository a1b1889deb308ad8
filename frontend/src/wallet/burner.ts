// A burner wallet for local test chains only, when no wallet is injected (as Scaffold-ETH does).
// The key lives in this browser's localStorage; Anvil funds it with ETH (anvil_setBalance) and the
// TestEuro faucet gives it euros. It answers the EIP-1193 calls this app makes.
import {
  type Address, type EIP1193Provider, createWalletClient, encodeFunctionData, http, parseEther, toHex,
  type Hex, type TypedDataDefinition,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { communityChain, contract, publicClient } from "../chain";
import { config } from "../config";
import { t } from "../i18n";

const STORAGE_KEY = "vatio.burnerKey";
const GAS_FUNDING = parseEther("100");
const MIN_EURO_BASE = 100_000_000n; // 100 €: below this the faucet is asked again

class ProviderRpcError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

function storedKey(): Hex {
  let key = localStorage.getItem(STORAGE_KEY) as Hex | null;
  if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key)) {
    key = generatePrivateKey();
    localStorage.setItem(STORAGE_KEY, key);
  }
  return key;
}

export function burnerAllowed(): boolean {
  return config().local && config().deployment !== null;
}

export function createBurner(): { provider: EIP1193Provider; address: Address } {
  if (!burnerAllowed()) throw new Error(t("wallet.burnerLocalOnly"));
  const account = privateKeyToAccount(storedKey());
  const chain = communityChain();
  const wallet = createWalletClient({ account, chain, transport: http(config().rpcUrl ?? undefined) });

  async function request({ method, params }: { method: string; params?: unknown }): Promise<unknown> {
    const args = (params ?? []) as unknown[];
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return [account.address];
      case "eth_chainId":
        return toHex(chain.id);
      case "personal_sign":
        return account.signMessage({ message: { raw: args[0] as Hex } });
      case "eth_signTypedData_v4": {
        const typed = JSON.parse(args[1] as string) as TypedDataDefinition & { types: Record<string, unknown> };
        const { EIP712Domain: _domain, ...types } = typed.types;
        return account.signTypedData({ ...typed, types } as TypedDataDefinition);
      }
      case "eth_sendTransaction": {
        const tx = args[0] as { to: Address; data?: Hex; value?: Hex; gas?: Hex };
        return wallet.sendTransaction({
          to: tx.to, data: tx.data, value: tx.value ? BigInt(tx.value) : 0n, gas: tx.gas ? BigInt(tx.gas) : undefined,
        });
      }
      case "wallet_switchEthereumChain": {
        const wanted = Number((args[0] as { chainId: string }).chainId);
        if (wanted === chain.id) return null;
        throw new ProviderRpcError(4902, t("wallet.burnerOtherChain", { chainId: chain.id }));
      }
      case "wallet_addEthereumChain":
        return null;
      default:
        return publicClient().request({ method, params } as never);
    }
  }

  const provider = { request, on: () => undefined, removeListener: () => undefined } as unknown as EIP1193Provider;
  return { provider, address: account.address };
}

/** Give the burner gas money on Anvil and test euros from the faucet; quiet where neither applies. */
export async function fundBurner(provider: EIP1193Provider, address: Address): Promise<void> {
  const client = publicClient();
  const version = String(await client.request({ method: "web3_clientVersion" } as never)).toLowerCase();
  if ((await client.getBalance({ address })) < GAS_FUNDING / 2n && version.includes("anvil")) {
    await client.request({ method: "anvil_setBalance", params: [address, toHex(GAS_FUNDING)] } as never);
  }
  const euro = contract("Euro");
  const isTestEuro = euro.abi.some((item) => item.type === "function" && item.name === "faucet");
  if (!isTestEuro) return;
  const held = (await client.readContract({ ...euro, functionName: "balanceOf", args: [address] })) as bigint;
  if (held >= MIN_EURO_BASE) return;
  const hash = (await provider.request({
    method: "eth_sendTransaction",
    params: [{ from: address, to: euro.address, data: encodeFunctionData({ abi: euro.abi, functionName: "faucet", args: [address] }) }],
  } as never)) as Hex;
  await client.waitForTransactionReceipt({ hash });
}
