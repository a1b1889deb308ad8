// The order form's check of a limit price: against the band of the window's first interval when it is known (what
// placeOrder checks on-chain), else against the bounds in force now.
// Run: npx vitest run frontend/src/pages/market.test.ts
import { describe, expect, it } from "vitest";
import { t } from "../i18n";
import type { BandInForce, TariffVersion } from "../ui/tariffWeek";
import { validateOrder } from "./market";

const version: TariffVersion = {
  version: 1,
  scheduleHash: "0x01",
  effectiveFrom: 0,
  effectiveFromTime: 0,
  flat: false,
  name: "ES",
  timeZone: "Europe/Madrid",
  fileFound: true,
  bands: [],
};
// P3 of the Spanish example: 0.060 - 0.095 EUR/kWh on-chain.
const p3: BandInForce = {
  version,
  band: { index: 2, name: "P3", feedInPrice: 60_000, retailPrice: 95_000, prices: null },
};
const now = { retailPrice: 200_000n, feedInPrice: 50_000n }; // the bounds in force now: wider than P3's
const order = (priceText: string) => ({
  side: "ask" as const,
  amountText: "0,5",
  priceText,
  intervalsText: "4",
});

describe("validateOrder", () => {
  it("refuses a limit outside the first interval's band even when the bounds in force now allow it", () => {
    const above = validateOrder(order("0,150"), now, null, p3);
    expect(above).toHaveProperty("error");
    expect((above as { error: string }).error).toContain("P3");
    const below = validateOrder(order("0,055"), now, null, p3);
    expect((below as { error: string }).error).toContain("P3");
    expect(below).not.toEqual(above);
  });
  it("accepts a limit within the band", () => {
    const ok = validateOrder(order("0,090"), now, null, p3);
    expect(ok).toMatchObject({ limitPrice: 90_000n, amountWh: 500n, intervals: 4n });
  });
  it("falls back to the bounds in force now when the band is not known", () => {
    expect(validateOrder(order("0,150"), now, null, null)).toMatchObject({ limitPrice: 150_000n });
    expect(validateOrder(order("0,250"), now, null, null)).toEqual({
      error: t("market.invalid.priceAboveRetail", { price: "0,250 €/kWh", retail: "0,200 €/kWh" }),
    });
  });
});
