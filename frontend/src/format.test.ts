// One unit style per column (issue 13, item 9). Run: npx vitest run frontend/src/format.test.ts
import { describe, expect, it, vi } from "vitest";
import { decimalHint, energyColumn, euroColumn } from "./format";
import { setLang } from "./i18n";

const sep = "[.,]";

describe("energyColumn", () => {
  it("writes every value in kWh with three decimals when one is 1 kWh or more", () => {
    const wh = energyColumn([500, 1000, null, 2]);
    expect(wh(500)).toMatch(new RegExp(`^0${sep}500 kWh$`));
    expect(wh(1000)).toMatch(new RegExp(`^1${sep}000 kWh$`));
    expect(wh(2)).toMatch(new RegExp(`^0${sep}002 kWh$`));
    expect(wh(null)).toBe("—");
  });
  it("keeps Wh when every value is below 1 kWh", () => {
    const wh = energyColumn([500, 30, 0n]);
    expect(wh(500)).toBe("500 Wh");
    expect(wh(0n)).toBe("0 Wh");
  });
});

describe("euroColumn", () => {
  it("gives the whole column the decimals its most precise amount needs", () => {
    const value = euroColumn([4_500, 1_000_000, 10_000]); // 0.0045, 1, 0.01 EUR
    expect(value(4_500)).toMatch(new RegExp(`^0${sep}0045 €$`));
    expect(value(1_000_000)).toMatch(new RegExp(`^1${sep}0000 €$`));
    expect(value(10_000)).toMatch(new RegExp(`^0${sep}0100 €$`));
  });
  it("stays at cents when every amount is whole cents, and at three decimals for mills", () => {
    expect(euroColumn([10_000, 2_500_000])(2_500_000)).toMatch(new RegExp(`^2${sep}50 €$`));
    expect(euroColumn([3_000, 10_000])(10_000)).toMatch(new RegExp(`^0${sep}010 €$`));
  });
});

describe("decimalHint", () => {
  it("writes an input's example in the page's language", () => {
    vi.stubGlobal("document", { documentElement: {} }); // setLang marks the page's language (Node has no page)
    setLang("en");
    expect(decimalHint(0.5, 3)).toBe("0.500");
    setLang("es");
    expect(decimalHint(0.12, 3)).toBe("0,120");
    vi.unstubAllGlobals();
  });
});
