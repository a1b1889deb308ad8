// A burner wallet for local test chains only, when no wallet is injected (as Scaffold-ETH does).
// The key lives in this browser's localStorage; Anvil funds it with ETH (anvil_setBalance) and the
// TestEuro faucet gives it euros. It answers the EIP-1193 calls this app makes.
// The same wallet can hold a key the person brings: one of the demo's households (Anvil's public test
// accounts, which `vatio demo` registers and prints) or a pasted key, so nobody needs MetaMask to trade.
import {
  type Address,
  type EIP1193Provider,
  createWalletClient,
  encodeFunctionData,
  http,
  parseEther,
  toHex,
  type Hex,
  type TypedDataDefinition,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { communityChain, contract, publicClient } from "../chain";
import { config } from "../config";
import { t } from "../i18n";

const STORAGE_KEY = "vatio.burnerKey";
const IMPORTED_KEY = "vatio.importedKey";
// Anvil's default accounts 0-9 (the public mnemonic "test test … junk"): known to everyone, so usable only
// on a local chain. `vatio demo` registers accounts 2-6 as households; the e2e community accounts 1 and 2.
const ANVIL_TEST_KEYS: Hex[] = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
  "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];
const GAS_FUNDING = parseEther("100");
const MIN_EURO_BASE = 100_000_000n; // 100 €: below this the faucet is asked again

class ProviderRpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
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

/** A pasted private key in the canonical 0x form, or null when it is not 32 bytes of hex. */
export function parseKey(text: string): Hex | null {
  const trimmed = text.trim();
  const hex = trimmed.startsWith("0x") || trimmed.startsWith("0X") ? trimmed.slice(2) : trimmed;
  return /^[0-9a-fA-F]{64}$/.test(hex) ? `0x${hex.toLowerCase()}` : null;
}

export function rememberImportedKey(key: Hex): void {
  localStorage.setItem(IMPORTED_KEY, key);
}

export function importedKey(): Hex | null {
  return parseKey(localStorage.getItem(IMPORTED_KEY) ?? "");
}

export interface DemoHousehold {
  number: number;
  address: Address;
  key: Hex;
}

/** The Anvil test accounts that are active households of this community, numbered 1… in account order. */
export async function demoHouseholds(): Promise<DemoHousehold[]> {
  if (!burnerAllowed()) return [];
  const registry = contract("CommunityRegistry");
  const accounts = ANVIL_TEST_KEYS.map((key) => ({ key, address: privateKeyToAccount(key).address }));
  const active = await Promise.all(
    accounts.map((account) =>
      publicClient()
        .readContract({ ...registry, functionName: "isActiveHousehold", args: [account.address] })
        .then(Boolean, () => false),
    ),
  );
  return accounts
    .filter((_, index) => active[index])
    .map((account, index) => ({ number: index + 1, ...account }));
}

/** The burner wallet: with `key`, that key (a demo household's or an imported one), else this browser's own. */
export function createBurner(key?: Hex): { provider: EIP1193Provider; address: Address } {
  if (!burnerAllowed()) throw new Error(t("wallet.burnerLocalOnly"));
  const account = privateKeyToAccount(key ?? storedKey());
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
        const typed = JSON.parse(args[1] as string) as TypedDataDefinition & {
          types: Record<string, unknown>;
        };
        const { EIP712Domain: _domain, ...types } = typed.types;
        return account.signTypedData({ ...typed, types });
      }
      case "eth_sendTransaction": {
        const tx = args[0] as { to: Address; data?: Hex; value?: Hex; gas?: Hex };
        return wallet.sendTransaction({
          to: tx.to,
          data: tx.data,
          value: tx.value ? BigInt(tx.value) : 0n,
          gas: tx.gas ? BigInt(tx.gas) : undefined,
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

  const provider = {
    request,
    on: () => undefined,
    removeListener: () => undefined,
  } as unknown as EIP1193Provider;
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
  const hash = await provider.request({
    method: "eth_sendTransaction",
    params: [
      {
        from: address,
        to: euro.address,
        data: encodeFunctionData({ abi: euro.abi, functionName: "faucet", args: [address] }),
      },
    ],
  });
  await client.waitForTransactionReceipt({ hash });
}
