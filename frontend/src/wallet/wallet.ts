// The connected wallet (EIP-1193), the community chain, Sign-In with Ethereum, and sending transactions.
import {
  type Address,
  type EIP1193Provider,
  getAddress,
  type Hex,
  toHex,
  type TransactionReceipt,
} from "viem";
import { api } from "../api";
import { communityChain, publicClient } from "../chain";
import { config } from "../config";
import { t } from "../i18n";
import { state, update, type SessionUser } from "../store";
import { startTx, toast } from "../ui/txpanel";
import { createBurner, fundBurner, importedKey, rememberImportedKey } from "./burner";
import { discoveredWallets, type DiscoveredWallet } from "./discovery";
import { describeError } from "./errors";

const CHOICE_KEY = "vatio.wallet";
let provider: EIP1193Provider | null = null;

/** An injected wallet, this browser's burner, or the burner holding a key the person chose (local chains only). */
export type WalletChoice = DiscoveredWallet | "burner" | { key: Hex; name: string };

export function walletProvider(): EIP1193Provider | null {
  return provider;
}

function listen(wallet: EIP1193Provider): void {
  const on = (wallet as { on?: (event: string, listener: (value: unknown) => void) => void }).on;
  if (typeof on !== "function") return;
  on.call(wallet, "accountsChanged", (accounts) => {
    const list = accounts as string[];
    update({ wallet: list.length ? getAddress(list[0]) : null });
    void refreshSession();
  });
  on.call(wallet, "chainChanged", (chainId) => update({ walletChainId: Number(chainId as string) }));
}

/** Connect `choice`. `silent`: a reconnection on page load, which tops up a burner without toasts. */
export async function connectWallet(choice: WalletChoice, { silent = false } = {}): Promise<void> {
  let name: string;
  let next: EIP1193Provider;
  const keyed = typeof choice === "object" && "key" in choice;
  const burner = choice === "burner" || keyed;
  if (burner) {
    next = createBurner(keyed ? choice.key : undefined).provider;
    name = keyed ? choice.name : "Burner";
  } else {
    next = choice.provider;
    name = choice.info.name;
  }
  const accounts = await next.request({ method: "eth_requestAccounts" });
  if (!accounts.length) throw new Error(t("wallet.noAccount"));
  provider = next;
  listen(next);
  const chainId = Number(await next.request({ method: "eth_chainId" }));
  const wallet = getAddress(accounts[0]);
  update({ wallet, walletName: name, walletChainId: chainId, burner });
  if (keyed) rememberImportedKey(choice.key);
  localStorage.setItem(CHOICE_KEY, keyed ? `key:${name}` : choice === "burner" ? "burner" : choice.info.rdns);
  if (burner && silent) {
    await fundBurner(next, wallet);
  } else if (burner) {
    const funding = toast(() => t("wallet.burnerFunding"), "progress");
    try {
      await fundBurner(next, wallet);
    } catch (error) {
      funding.update(() => describeError(error), "error");
      throw error;
    }
    funding.update(() => t("wallet.burnerFunded", { address: wallet }), "success");
  }
  await refreshSession();
}

/** Reconnect the wallet chosen last time, without a prompt (eth_accounts), if it is still there. */
export async function reconnect(): Promise<void> {
  const choice = localStorage.getItem(CHOICE_KEY);
  if (!choice) return;
  if (choice === "burner") {
    if (config().local) await connectWallet("burner", { silent: true }).catch(() => undefined);
    return;
  }
  if (choice.startsWith("key:")) {
    const key = importedKey();
    if (config().local && key) {
      await connectWallet({ key, name: choice.slice(4) }, { silent: true }).catch(() => undefined);
    }
    return;
  }
  const wallet = (await discoveredWallets()).find((candidate) => candidate.info.rdns === choice);
  if (!wallet) return;
  const accounts = (await wallet.provider.request({ method: "eth_accounts" }).catch(() => [])) as string[];
  if (accounts.length) await connectWallet(wallet, { silent: true }).catch(() => undefined);
}

export function disconnectWallet(): void {
  provider = null;
  localStorage.removeItem(CHOICE_KEY);
  update({ wallet: null, walletName: null, walletChainId: null, burner: false });
}

/** Switch the wallet to the community's chain, adding it to the wallet first when it does not know it. */
export async function ensureChain(): Promise<void> {
  if (!provider) throw new Error(t("err.noWallet"));
  const wanted = config().chainId;
  if (wanted === null || state.walletChainId === wanted) return;
  const chainId = toHex(wanted);
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code !== 4902 && code !== -32603) throw error;
    const chain = communityChain();
    await provider.request({
      method: "wallet_addEthereumChain",
      params: [
        {
          chainId,
          chainName: chain.name,
          nativeCurrency: chain.nativeCurrency,
          rpcUrls: [config().rpcUrl ?? ""],
        },
      ],
    });
  }
  update({ walletChainId: Number(await provider.request({ method: "eth_chainId" })) });
}

export async function refreshSession(): Promise<SessionUser | null> {
  // Signed out is an answer (200 {signedIn: false}), not an error: an anonymous visit logs no failed request.
  const answer = await api<SessionUser | { signedIn: false }>("/api/auth/me");
  const user = answer.signedIn ? answer : null;
  update({ user });
  return user;
}

interface NonceAnswer {
  nonce: string;
  domain: string;
  uri: string;
  version: string;
  chainId: number;
  statement: string;
  issuedAt: string;
  expirationTime: string;
}

/** The EIP-4361 message, exactly in the form docs/api.md gives. */
export function siweMessage(fields: NonceAnswer, address: Address): string {
  return [
    `${fields.domain} wants you to sign in with your Ethereum account:`,
    getAddress(address),
    "",
    fields.statement,
    "",
    `URI: ${fields.uri}`,
    `Version: ${fields.version}`,
    `Chain ID: ${fields.chainId}`,
    `Nonce: ${fields.nonce}`,
    `Issued At: ${fields.issuedAt}`,
    `Expiration Time: ${fields.expirationTime}`,
  ].join("\n");
}

export async function signIn(): Promise<SessionUser> {
  if (!provider || !state.wallet) throw new Error(t("err.noWallet"));
  const fields = await api<NonceAnswer>("/api/auth/nonce");
  const message = siweMessage(fields, state.wallet);
  const signature = await provider.request({
    method: "personal_sign",
    params: [toHex(message), state.wallet],
  });
  const user = await api<SessionUser>("/api/auth/verify", { body: { message, signature } });
  update({ user });
  return user;
}

export async function signOut(): Promise<void> {
  await api("/api/auth/logout", { body: {} }).catch(() => undefined);
  update({ user: null });
}

/** `value` is in wei, as 0x hex or a decimal string (BigInt reads both). */
export interface UnsignedTx {
  to: Address;
  data: Hex;
  value?: string;
}

/**
 * Send one transaction from the wallet, with its progress in words.
 * It is simulated first: a call the contract would refuse is explained and never sent.
 */
export async function sendTransaction(label: string, tx: UnsignedTx): Promise<TransactionReceipt> {
  const progress = startTx(t("tx.checking", { label }));
  try {
    if (!provider || !state.wallet) throw new Error(t("err.noWallet"));
    await ensureChain();
    const from = state.wallet;
    const value = tx.value ? BigInt(tx.value) : 0n;
    await publicClient().call({ account: from, to: tx.to, data: tx.data, value });
    progress.set("signing", t("tx.waitingSignature", { label }));
    const hash = await provider.request({
      method: "eth_sendTransaction",
      params: [{ from, to: tx.to, data: tx.data, value: toHex(value) }],
    });
    progress.set("sent", t("tx.sent", { label }), hash);
    const receipt = await publicClient().waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") {
      // Replay it at the block before, to learn the contract's reason.
      await publicClient().call({
        account: from,
        to: tx.to,
        data: tx.data,
        value,
        blockNumber: receipt.blockNumber - 1n,
      });
      throw new Error(t("err.reverted"));
    }
    progress.set("confirmed", t("tx.confirmed", { label, block: receipt.blockNumber.toString() }), hash);
    return receipt;
  } catch (error) {
    progress.set("failed", t("tx.failed", { label, reason: describeError(error) }));
    throw error;
  }
}
