// Reads straight from the chain with viem: balances, tariffs, orders, settlement events.
import {
  type Abi,
  type Address,
  type Chain,
  createPublicClient,
  defineChain,
  http,
  type PublicClient,
  getAddress,
} from "viem";
import { config, deployment, type ContractName } from "./config";

let client: PublicClient | null = null;
let chainDefinition: Chain | null = null;

export function communityChain(): Chain {
  if (!chainDefinition) {
    const { chainId, rpcUrl, local } = config();
    chainDefinition = defineChain({
      id: chainId ?? 31337,
      name: local ? `Vatio local (${chainId})` : `Vatio (${chainId})`,
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [rpcUrl ?? "http://127.0.0.1:8545"] } },
    });
  }
  return chainDefinition;
}

export function publicClient(): PublicClient {
  if (!client) {
    client = createPublicClient({
      chain: communityChain(),
      transport: http(config().rpcUrl ?? undefined, { retryCount: 1 }),
    });
  }
  return client;
}

export function contract(name: ContractName): { address: Address; abi: Abi } {
  const entry = deployment().contracts[name];
  return { address: getAddress(entry.address), abi: entry.abi };
}

async function read<T>(name: ContractName, functionName: string, args: unknown[] = []): Promise<T> {
  const { address, abi } = contract(name);
  return (await publicClient().readContract({ address, abi, functionName, args })) as T;
}

export interface Balances {
  energyWh: bigint;
  walletEuro: bigint;
  marketEuro: bigint;
  autoSellPrice: bigint;
  autoBuyPrice: bigint;
  ethWei: bigint;
}

export async function readBalances(owner: Address): Promise<Balances> {
  const [energyWh, walletEuro, account, ethWei] = await Promise.all([
    read<bigint>("EnergyToken", "balanceOf", [owner]),
    read<bigint>("Euro", "balanceOf", [owner]),
    read<{ balance: bigint; autoSellPrice: bigint; autoBuyPrice: bigint }>("EnergyMarket", "getAccount", [
      owner,
    ]),
    publicClient().getBalance({ address: owner }),
  ]);
  return {
    energyWh,
    walletEuro,
    marketEuro: account.balance,
    autoSellPrice: account.autoSellPrice,
    autoBuyPrice: account.autoBuyPrice,
    ethWei,
  };
}

export interface Tariffs {
  retailPrice: bigint;
  feedInPrice: bigint;
}

export async function readTariffs(): Promise<Tariffs> {
  const [retailPrice, feedInPrice] = await Promise.all([
    read<bigint>("CommunityRegistry", "retailPrice"),
    read<bigint>("CommunityRegistry", "feedInPrice"),
  ]);
  return { retailPrice, feedInPrice };
}

/** The registry's band of an interval and that band's bounds: what placeOrder checks a limit against. */
export async function readIntervalBand(
  intervalId: bigint,
): Promise<{ version: number; band: number; feedInPrice: number; retailPrice: number }> {
  const [[version, band], [feedIn, retail]] = await Promise.all([
    read<readonly [number, number]>("CommunityRegistry", "bandOf", [intervalId]),
    read<readonly [bigint, bigint]>("CommunityRegistry", "priceBounds", [intervalId]),
  ]);
  return {
    version: Number(version),
    band: Number(band),
    feedInPrice: Number(feedIn),
    retailPrice: Number(retail),
  };
}

export async function readAllowance(token: "Euro" | "EnergyToken", owner: Address): Promise<bigint> {
  return read<bigint>(token, "allowance", [owner, contract("EnergyMarket").address]);
}

export async function readRegisteredHousehold(
  owner: Address,
): Promise<{ meter: Address; capacityW: number; active: boolean } | null> {
  const record = await read<{ meter: Address; capacityW: number; active: boolean }>(
    "CommunityRegistry",
    "household",
    [owner],
  );
  return BigInt(record.meter) === 0n ? null : record;
}

/** The interval the next block will be in: the later of the wall clock and the last block (as the API does). */
export async function currentInterval(): Promise<bigint> {
  const block = await publicClient().getBlock({ blockTag: "latest" });
  const now = BigInt(Math.floor(Date.now() / 1000));
  const ts = block.timestamp > now ? block.timestamp : now;
  return ts / BigInt(config().intervalSeconds);
}

export interface ChainOrder {
  orderId: bigint;
  owner: Address;
  side: "bid" | "ask";
  limitPrice: bigint;
  amountWh: bigint;
  filledWh: bigint;
  validFrom: bigint;
  validTo: bigint;
  escrow: bigint;
  open: boolean;
}

/** A wallet's orders, from its OrderPlaced events and each order's current state. */
export async function readOrdersOf(owner: Address): Promise<ChainOrder[]> {
  const { address, abi } = contract("EnergyMarket");
  const logs = await publicClient().getContractEvents({
    address,
    abi,
    eventName: "OrderPlaced",
    args: { owner },
    fromBlock: BigInt(deployment().deployBlock),
  });
  const ids = logs.map((log) => (log as unknown as { args: { orderId: bigint } }).args.orderId);
  const orders = await Promise.all(
    ids.map((id) =>
      read<{
        owner: Address;
        validFrom: number;
        validTo: number;
        side: number;
        open: boolean;
        amountWh: bigint;
        filledWh: bigint;
        limitPrice: bigint;
        escrow: bigint;
      }>("EnergyMarket", "getOrder", [id]),
    ),
  );
  return orders
    .map((order, index): ChainOrder => ({
      orderId: ids[index],
      owner: order.owner,
      side: order.side === 0 ? "bid" : "ask",
      limitPrice: order.limitPrice,
      amountWh: order.amountWh,
      filledWh: order.filledWh,
      validFrom: BigInt(order.validFrom),
      validTo: BigInt(order.validTo),
      escrow: order.escrow,
      open: order.open,
    }))
    .sort((a, b) => Number(b.orderId - a.orderId));
}

/** A bid escrows ceil(amount × price / 1000) euros; an ask escrows its Wh of tokens (EnergyMarket.placeOrder). */
export function escrowOf(side: "bid" | "ask", amountWh: bigint, limitPrice: bigint): bigint {
  return side === "bid" ? (amountWh * limitPrice + 999n) / 1000n : amountWh;
}
