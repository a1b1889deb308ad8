// The week's chart data: each band's hours as stepped runs at that band's prices, never joined across other bands.
// Run: npx vitest run frontend/src/ui/tariffWeek.test.ts
import { describe, expect, it } from "vitest";
import { t } from "../i18n";
import { type TariffWeek, weekSeries } from "./tariffWeek";

const H = 3600;
const start = 1_800_000_000 - (1_800_000_000 % H);
const band = (index: number, name: string, retail: string, feedIn: string) => ({
  index,
  name,
  feedInPrice: 60_000,
  retailPrice: Math.round(Number(retail) * 1e6),
  prices: { retailImport: retail, feedIn, gridAccess: "0.01", gridCharges: "0.02" },
});

// Hours: P3 P3 P1 P1 P3 under version 1, then two hours under a flat version 2 (no file: its bounds are the prices).
const week: TariffWeek = {
  from: start,
  to: start + 7 * H,
  intervalSeconds: 900,
  versions: [
    {
      version: 1,
      scheduleHash: "0x01",
      effectiveFrom: 0,
      effectiveFromTime: 0,
      flat: false,
      name: "ES",
      timeZone: "Europe/Madrid",
      fileFound: true,
      bands: [band(0, "P1", "0.1650", "0.0600"), band(1, "P3", "0.0950", "0.0500")],
    },
    {
      version: 2,
      scheduleHash: "0x00",
      effectiveFrom: 0,
      effectiveFromTime: 0,
      flat: true,
      name: null,
      timeZone: null,
      fileFound: true,
      bands: [{ index: 0, name: "flat", feedInPrice: 50_000, retailPrice: 200_000, prices: null }],
    },
  ],
  hours: [1, 1, 0, 0, 1, 0, 0].map((b, i) => ({ start: start + i * H, version: i < 5 ? 1 : 2, band: b })),
};

describe("weekSeries", () => {
  const series = weekSeries(week);
  it("makes one series per version and band, labelled with the version when there are several", () => {
    expect(series.map((s) => s.label)).toEqual(["P3 (v1)", "P1 (v1)", `${t("tariff.flat")} (v2)`]);
  });
  it("holds each run's price to its end and breaks between runs", () => {
    const p3 = series[0].retail;
    expect(p3).toEqual([
      { x: start, y: 0.095 },
      { x: start + H, y: 0.095 },
      { x: start + 2 * H, y: 0.095 },
      { x: start + 2 * H + 1, y: null },
      { x: start + 4 * H, y: 0.095 },
      { x: start + 5 * H, y: 0.095 },
      { x: start + 5 * H + 1, y: null },
    ]);
    expect(series[1].feedIn.filter((p) => p.y !== null).map((p) => p.x)).toEqual([
      start + 2 * H,
      start + 3 * H,
      start + 4 * H,
    ]);
  });
  it("takes a flat version's prices from its on-chain bounds", () => {
    expect(series[2].retail[0]).toEqual({ x: start + 5 * H, y: 0.2 });
    expect(series[2].feedIn[0]).toEqual({ x: start + 5 * H, y: 0.05 });
  });
  it("leaves out hours with no band (no file, outside the years)", () => {
    const gaps = { ...week, hours: week.hours.map((h, i) => (i === 0 ? { ...h, band: null } : h)) };
    expect(weekSeries(gaps)[0].retail[0]).toEqual({ x: start + H, y: 0.095 });
  });
});
