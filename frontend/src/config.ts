// What the page learns before anything else: the chain, where to read it, and the deployment (addresses, ABIs).
import type { Abi, Address } from "viem";
import { api } from "./api";

export type ContractName = "CommunityRegistry" | "EnergyToken" | "Euro" | "EnergyMarket";

export interface Deployment {
  chainId: number;
  deployBlock: number;
  contracts: Record<ContractName, { address: Address; abi: Abi; testToken?: boolean }>;
  settings: Record<string, unknown>;
}

export interface AppConfig {
  chainId: number | null;
  rpcUrl: string | null;
  local: boolean;
  intervalSeconds: number;
  deployment: Deployment | null;
}

let loaded: AppConfig | null = null;

export async function loadConfig(): Promise<AppConfig> {
  const runtime = await api<{
    chainId: number | null;
    rpcUrl: string | null;
    deployment: string | null;
    local: boolean;
    intervalSeconds: number;
  }>("/config.json");
  const deployment = runtime.deployment ? await api<Deployment>(runtime.deployment) : null;
  loaded = {
    chainId: runtime.chainId,
    rpcUrl: runtime.rpcUrl,
    local: runtime.local,
    intervalSeconds: runtime.intervalSeconds,
    deployment,
  };
  return loaded;
}

export function config(): AppConfig {
  if (!loaded) throw new Error("config not loaded");
  return loaded;
}

/** The deployment, or an error the page can show when this server has none. */
export function deployment(): Deployment {
  const value = config().deployment;
  if (!value) throw new Error("this server has no chain deployment configured");
  return value;
}
