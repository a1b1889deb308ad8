// EIP-6963: wallets announce themselves; window.ethereum is the fallback for older ones.
import type { EIP1193Provider } from "viem";

export interface WalletInfo {
  uuid: string;
  name: string;
  icon: string;
  rdns: string;
}
export interface DiscoveredWallet {
  info: WalletInfo;
  provider: EIP1193Provider;
}

const found = new Map<string, DiscoveredWallet>();

export function startDiscovery(): void {
  window.addEventListener("eip6963:announceProvider", (event: Event) => {
    const detail = (event as CustomEvent<DiscoveredWallet>).detail;
    if (detail?.info?.uuid && detail.provider) found.set(detail.info.uuid, detail);
  });
  window.dispatchEvent(new Event("eip6963:requestProvider"));
}

/** Announced wallets, plus window.ethereum when no wallet announced itself. */
export async function discoveredWallets(waitMs = 150): Promise<DiscoveredWallet[]> {
  window.dispatchEvent(new Event("eip6963:requestProvider"));
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  const wallets = [...found.values()];
  const legacy = (window as unknown as { ethereum?: EIP1193Provider }).ethereum;
  if (!wallets.length && legacy) {
    wallets.push({
      info: { uuid: "injected", name: "Browser wallet", icon: "", rdns: "injected" },
      provider: legacy,
    });
  }
  return wallets;
}
