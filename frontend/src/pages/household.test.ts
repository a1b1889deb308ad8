// The household's advice: the shortfall rate it picks, and what each suggested order is worth in euros.
// Run: npx vitest run frontend/src/pages/household.test.ts
import { describe, expect, it } from "vitest";
import { euro } from "../format";
import { en } from "../i18n/en";
import { es } from "../i18n/es";
import { DEFAULT_SHORTFALL_RATE, SHORTFALL_RATES, shortfallRateFrom, suggestionText } from "./household";

const order = {
  side: "ask" as const,
  limitPrice: 140_000,
  amountWh: 4_000,
  validFrom: 10,
  validTo: 20,
  window: { start: 1_765_000_800, end: 1_765_029_600 },
  value: 360_000, // 4 kWh at 0.14 €/kWh over a 0.05 €/kWh feed-in
};

describe("shortfallRateFrom", () => {
  it("keeps a remembered rate that is on offer", () => {
    for (const rate of SHORTFALL_RATES) expect(shortfallRateFrom(String(rate))).toBe(rate);
  });
  it("falls back to 10% for nothing remembered or a rate not on offer", () => {
    for (const stored of [null, "", "0", "0.5", "0.07", "abc", "NaN"])
      expect(shortfallRateFrom(stored), String(stored)).toBe(DEFAULT_SHORTFALL_RATE);
  });
});

describe("suggestionText", () => {
  it("says what each order is worth, in euros, with its side's words", () => {
    const sell = suggestionText(order);
    expect(sell).toContain(euro(order.value));
    const buy = suggestionText({ ...order, side: "bid", value: 120_000 });
    expect(buy).toContain(euro(120_000));
    expect(buy).not.toEqual(sell.replace(euro(order.value), euro(120_000)));
  });
  it("has the worth in both languages, with its placeholder", () => {
    for (const key of ["home.sellWorth", "home.buyWorth", "home.shortfallNote", "home.noCautious"] as const) {
      expect(en[key]).toMatch(/\{\w+\}/);
      expect(es[key]).toMatch(/\{\w+\}/);
    }
  });
});
