// Who is here: the connected wallet and the signed-in session. Pages subscribe and re-render on change.
import type { Address } from "viem";

export interface SessionUser {
  signedIn: true;
  address: Address;
  roles: string[];
  household: boolean;
  active: boolean;
  admin: boolean;
  chainId: number;
}

export interface AppState {
  wallet: Address | null; // connected account
  walletName: string | null;
  walletChainId: number | null;
  burner: boolean;
  user: SessionUser | null; // signed in (SIWE) session, from /api/auth/me
}

export const state: AppState = {
  wallet: null,
  walletName: null,
  walletChainId: null,
  burner: false,
  user: null,
};

const listeners = new Set<() => void>();

export function update(patch: Partial<AppState>): void {
  Object.assign(state, patch);
  listeners.forEach((listener) => listener());
}

export function onStateChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The signed-in household address, when the session and the connected wallet agree. */
export function signedInHousehold(): Address | null {
  const user = state.user;
  if (!user || !user.household) return null;
  if (state.wallet && state.wallet.toLowerCase() !== user.address.toLowerCase()) return null;
  return user.address;
}
