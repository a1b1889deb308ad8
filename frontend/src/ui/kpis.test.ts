// The KPI card's figures, as the household page and the dashboard show them, from an answer of /kpis.
// Run: npx vitest run frontend/src/ui/kpis.test.ts
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { setLang } from "../i18n";
import { type Kpis, kpiFigures } from "./kpis";

// bob's 2026-02-03 in tests/backend/web/test_kpis_api.py: 1.95 kWh used, 1.4 kWh from the community.
const day: Kpis = {
  selfSufficiency: 0.717949,
  selfConsumption: null,
  consumedWh: 1950,
  producedWh: 0,
  boughtWh: 1400,
  soldWh: 0,
  gridImportWh: 550,
  gridExportWh: 0,
  peakImportKw: "4",
  co2AvoidedKg: "0.168",
  billWithEur: "3.41",
  billWithoutEur: "3.58",
  savingEur: "0.17",
};

beforeAll(() => vi.stubGlobal("document", { documentElement: {} })); // setLang marks <html lang>
afterEach(() => setLang("en"));

describe("kpiFigures", () => {
  it("shows the saving with both bills, the shares as percentages, energy, peak and CO₂", () => {
    setLang("en");
    const figures = Object.fromEntries(kpiFigures(day).map((f) => [f.testid, f]));
    expect(figures["kpi-saving"].value).toBe("0.17 €");
    expect(figures["kpi-saving"].detail).toContain("3.41 €");
    expect(figures["kpi-saving"].detail).toContain("3.58 €");
    expect(figures["kpi-self-sufficiency"].value).toBe("71.8%");
    expect(figures["kpi-self-consumption"].value).toBe("—"); // no production
    expect(figures["kpi-community"].detail).toContain("1.4 kWh");
    expect(figures["kpi-grid"].value).toBe("550 Wh");
    expect(figures["kpi-peak"].value).toBe("4 kW");
    expect(figures["kpi-co2"].value).toBe("0.168 kg CO₂");
  });

  it("keeps a negative saving negative, in Spanish too", () => {
    setLang("es");
    const [saving] = kpiFigures({ ...day, savingEur: "-0.05" });
    expect(saving.label).toBe("Ahorro con la comunidad");
    expect(saving.value).toMatch(/^-0,05\s€$/);
  });

  it("has nothing to show before the first billed interval", () => {
    expect(kpiFigures(null)).toEqual([]);
  });
});
