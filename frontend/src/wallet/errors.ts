// Errors in words: a rejected signature, missing gas money, a revert with its custom error decoded from the ABIs.
import { type Abi, BaseError, decodeErrorResult, type Hex } from "viem";
import { ApiError } from "../api";
import { deployment } from "../config";
import { energy, euro, price } from "../format";
import { hasMessage, t } from "../i18n";

/** A contract error decoded from revert data: its name and arguments by ABI name. */
export interface DecodedRevert {
  name: string;
  args: Record<string, unknown>;
}

// Arguments are formatted by name, as the contracts name them: energy ends in "Wh", prices and euros are listed.
const PRICE_ARGS = new Set(["price", "feedInPrice", "retailPrice", "limitPrice", "clearingPrice"]);
const EURO_ARGS = new Set(["requested", "available", "escrow", "paid", "received"]);
/** Errors whose `value` argument is euros (elsewhere, as in SafeCast's, it is a bare number). */
const EURO_VALUE_ERRORS = new Set(["MarketFillExceedsEscrow"]);

function allErrorsAbi(): Abi {
  const seen = new Set<string>();
  const errors: Abi[number][] = [];
  for (const { abi } of Object.values(deployment().contracts)) {
    for (const item of abi) {
      if (item.type !== "error") continue;
      const signature = `${item.name}(${item.inputs.map((input) => input.type).join(",")})`;
      if (!seen.has(signature)) {
        seen.add(signature);
        errors.push(item);
      }
    }
  }
  return errors;
}

function findRevertData(error: unknown): Hex | null {
  let found: Hex | null = null;
  const visit = (value: unknown) => {
    if (found || !value || typeof value !== "object") return;
    const data = (value as { data?: unknown }).data;
    if (typeof data === "string" && /^0x[0-9a-fA-F]{8,}$/.test(data)) found = data as Hex;
    else if (data && typeof data === "object") visit(data);
  };
  if (error instanceof BaseError)
    error.walk((inner) => {
      visit(inner);
      return false;
    });
  visit(error);
  return found;
}

export function decodeRevert(error: unknown): DecodedRevert | null {
  const named =
    error instanceof BaseError
      ? (error.walk((inner) => Boolean((inner as { data?: { errorName?: string } }).data?.errorName)) as {
          data?: { errorName: string; args?: readonly unknown[]; abiItem?: { inputs: { name?: string }[] } };
        } | null)
      : null;
  if (named?.data?.errorName) {
    const inputs = named.data.abiItem?.inputs ?? [];
    const args: Record<string, unknown> = {};
    (named.data.args ?? []).forEach((value, i) => {
      args[inputs[i]?.name || `arg${i}`] = value;
    });
    return { name: named.data.errorName, args };
  }
  const data = findRevertData(error);
  if (!data) return null;
  try {
    const abi = allErrorsAbi();
    const decoded = decodeErrorResult({ abi, data });
    const item = abi.find((entry) => entry.type === "error" && entry.name === decoded.errorName) as
      { inputs: { name?: string }[] } | undefined;
    const args: Record<string, unknown> = {};
    (decoded.args ?? []).forEach((value, i) => {
      args[item?.inputs[i]?.name || `arg${i}`] = value;
    });
    return { name: decoded.errorName, args };
  } catch {
    return null;
  }
}

function formatArg(error: string, name: string, value: unknown): string {
  // The market's Side enum (0 bid, 1 ask) arrives as a number: uint8 decodes to one.
  if (name === "side" && (value === 0 || value === 1)) return t(value === 0 ? "common.bid" : "common.ask");
  if (typeof value === "bigint") {
    if (PRICE_ARGS.has(name)) return price(value);
    if (name.endsWith("Wh")) return energy(value);
    if (EURO_ARGS.has(name) || (name === "value" && EURO_VALUE_ERRORS.has(error))) return euro(value);
    return value.toString();
  }
  return String(value);
}

export function describeRevert(revert: DecodedRevert): string {
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(revert.args)) vars[name] = formatArg(revert.name, name, value);
  const key = `revert.${revert.name}`;
  if (hasMessage(key)) return t(key, vars);
  const list = Object.entries(vars)
    .map(([name, value]) => `${name}=${value}`)
    .join(", ");
  return t("err.contract", { name: revert.name, args: list ? ` (${list})` : "" });
}

function isRejection(error: unknown): boolean {
  const check = (value: unknown) => {
    const candidate = value as { code?: number; name?: string } | null;
    return candidate?.code === 4001 || candidate?.name === "UserRejectedRequestError";
  };
  if (check(error)) return true;
  return error instanceof BaseError ? Boolean(error.walk(check)) : false;
}

function messageOf(error: unknown): string {
  if (error instanceof BaseError) return error.shortMessage;
  return error instanceof Error ? error.message : String(error);
}

/** One sentence for any failure of a wallet action, a contract call or the API. */
export function describeError(error: unknown): string {
  if (isRejection(error)) return t("err.rejected");
  if (error instanceof ApiError) {
    if (error.status === 0) return t("err.network");
    const key = `api.${error.code}`;
    return hasMessage(key) ? t(key) : t("err.api", { message: error.message });
  }
  const revert = decodeRevert(error);
  if (revert) return describeRevert(revert);
  const message = messageOf(error);
  if (/insufficient funds/i.test(message)) return t("err.insufficientGas");
  if (/HTTP request failed|fetch failed|Failed to fetch|NetworkError/i.test(message)) return t("err.network");
  if (/revert/i.test(message)) return t("err.reverted");
  return t("err.unknown", { message });
}
