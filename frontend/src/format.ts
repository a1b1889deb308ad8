// Units as everywhere in Vatio: energy in integer Wh, euros in 6-decimal base units, prices in base units per kWh.
import { locale } from "./i18n";

export const EURO_DECIMALS = 6;
/** Prices are on the market's tick, 0.001 €/kWh (1000 base units): three decimals of euros per kWh. */
export const PRICE_DECIMALS = 3;
const EURO_UNIT = 10n ** 6n;

function number(value: number, min = 0, max = 3): string {
  return new Intl.NumberFormat(locale(), { minimumFractionDigits: min, maximumFractionDigits: max }).format(
    value,
  );
}

export function energy(wh: number | bigint | null | undefined): string {
  if (wh === null || wh === undefined) return "—";
  const value = Number(wh);
  if (Math.abs(value) < 1000) return `${number(value, 0, 0)} Wh`;
  return `${number(value / 1000, 1, 3)} kWh`;
}

export function power(w: number | null | undefined): string {
  if (w === null || w === undefined) return "—";
  if (Math.abs(w) < 1000) return `${number(w, 0, 0)} W`;
  return `${number(w / 1000, 1, 2)} kW`;
}

/** Euro base units (6 decimals) as "1.234,56 €"; small amounts keep up to 4 decimals. */
export function euro(base: number | bigint | null | undefined): string {
  if (base === null || base === undefined) return "—";
  const value = Number(base) / 1e6;
  return `${number(value, 2, Math.abs(value) < 1 && value !== 0 ? 4 : 2)} €`;
}

type Amount = number | bigint | null | undefined;

/**
 * One unit for a whole column of energies, so that "1,000 kWh" never sits above "500 Wh": kWh with three
 * decimals (exact Wh) when any value is 1 kWh or more, else Wh.
 */
export function energyColumn(values: Amount[]): (wh: Amount) => string {
  const inKwh = values.some((wh) => wh !== null && wh !== undefined && Math.abs(Number(wh)) >= 1000);
  return (wh) => {
    if (wh === null || wh === undefined) return "—";
    return inKwh ? `${number(Number(wh) / 1000, 3, 3)} kWh` : `${number(Number(wh), 0, 0)} Wh`;
  };
}

/** One number of decimals for a whole column of euro amounts: 2, or up to 4 when some amount has sub-cent digits. */
export function euroColumn(values: Amount[]): (base: Amount) => string {
  const decimals = Math.max(
    2,
    ...values.map((base) => {
      if (base === null || base === undefined) return 2;
      const cents = Math.abs(Number(base)) / 1e4; // base units are 1e-6 €
      return cents === Math.trunc(cents) ? 2 : Math.abs(Number(base)) % 1e3 === 0 ? 3 : 4;
    }),
  );
  return (base) =>
    base === null || base === undefined ? "—" : `${number(Number(base) / 1e6, decimals, decimals)} €`;
}

/** A price in base units per kWh as "0,120 €/kWh". */
export function price(perKwh: number | bigint | null | undefined): string {
  if (perKwh === null || perKwh === undefined) return "—";
  return `${number(Number(perKwh) / 1e6, PRICE_DECIMALS, 6)} €/kWh`;
}

export function ether(wei: bigint): string {
  return `${number(Number(wei) / 1e18, 0, 4)} ETH`;
}

function sameLocalDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** A time of day ("14:05:09"), with its date in front when it is not today ("05/12 14:05:09"). */
export function time(unixS: number | null | undefined, now: Date = new Date()): string {
  if (unixS === null || unixS === undefined) return "—";
  const date = new Date(unixS * 1000);
  const clock = date.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return sameLocalDay(date, now)
    ? clock
    : `${date.toLocaleDateString(locale(), { day: "2-digit", month: "2-digit" })} ${clock}`;
}

/** A clock time to the minute ("14:15"), with the date when it is not today: how intervals are named to people. */
export function clock(unixS: number, now: Date = new Date()): string {
  const date = new Date(unixS * 1000);
  const hm = date.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
  return sameLocalDay(date, now)
    ? hm
    : `${date.toLocaleDateString(locale(), { day: "2-digit", month: "2-digit" })} ${hm}`;
}

/** Intervals fromId..toId (inclusive) as the clock times they span: "14:15–15:15". */
export function intervalSpan(fromId: number, toId: number, seconds: number): string {
  const start = fromId * seconds;
  const end = (toId + 1) * seconds;
  const sameDay = sameLocalDay(new Date(start * 1000), new Date(end * 1000 - 1));
  const endText = sameDay
    ? new Date(end * 1000).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" })
    : clock(end);
  return `${clock(start)}–${endText}`;
}

export function dateTime(unixS: number | null | undefined): string {
  if (unixS === null || unixS === undefined) return "—";
  return new Date(unixS * 1000).toLocaleString(locale(), {
    day: "2-digit",
    month: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function shortHex(value: string | null | undefined, head = 6, tail = 4): string {
  if (!value) return "—";
  return value.length <= head + tail + 1 ? value : `${value.slice(0, head)}…${value.slice(-tail)}`;
}

/** Parse a decimal typed by a person ("0,15", "1.5", "2") into an integer of `decimals` places; null if not one. */
export function parseDecimal(text: string, decimals: number): bigint | null {
  const cleaned = text.trim().replace(",", ".");
  if (!/^\d+(\.\d*)?$|^\.\d+$/.test(cleaned)) return null;
  const [whole, fraction = ""] = cleaned.split(".");
  if (fraction.length > decimals) return null;
  return (
    BigInt(whole || "0") * 10n ** BigInt(decimals) +
    BigInt((fraction + "0".repeat(decimals)).slice(0, decimals) || "0")
  );
}

/** An example value for an input's placeholder, in the page's language ("0,500" in Spanish, "0.500" in English). */
export function decimalHint(value: number, decimals: number): string {
  return number(value, decimals, decimals);
}

/** True when `text` is a decimal but with more places than allowed. */
export function tooPrecise(text: string, decimals: number): boolean {
  const cleaned = text.trim().replace(",", ".");
  return /^\d*\.\d+$/.test(cleaned) && cleaned.split(".")[1].length > decimals;
}

export const parseKwhToWh = (text: string) => parseDecimal(text, 3);
export const parseEuro = (text: string) => parseDecimal(text, EURO_DECIMALS);

/** Base units as a plain decimal for an input field ("0.15"). */
export function toDecimalText(base: bigint | number, decimals = EURO_DECIMALS): string {
  const value = BigInt(base);
  const unit = 10n ** BigInt(decimals);
  const fraction = (value % unit).toString().padStart(decimals, "0").replace(/0+$/, "");
  return fraction ? `${value / unit}.${fraction}` : `${value / unit}`;
}

export { EURO_UNIT };
