// "Today against the forecast": over the hours already over, the band is what was forecast before each of them.
// Run: npx vitest run frontend/src/pages/dashboard.test.ts
import { describe, expect, it } from "vitest";
import { t } from "../i18n";
import { type ForecastSeries, forecastDatasets, forecastSourceText, newestSettled } from "./dashboard";

const H = 3600;
const run = 1_765_000_800;

describe("forecastDatasets", () => {
  it("draws the forecast issued before each past hour under its actual value, then the current run", () => {
    const forecast: ForecastSeries = {
      issuedAt: run,
      horizonH: 2,
      series: [
        {
          household: null,
          kind: "load",
          hourStarts: [run, run + H],
          p10Wh: [40, 41],
          p50Wh: [50, 51],
          p90Wh: [60, 61],
          actualWh: [55, null],
        },
      ],
      past: {
        hourStarts: [run - 2 * H, run - H],
        consumedWh: [48, 52],
        producedWh: [0, 0],
        forecast: [
          {
            kind: "load",
            hourStarts: [run - H],
            issuedAt: [run - 2 * H],
            p10Wh: [30],
            p50Wh: [45],
            p90Wh: [70],
          },
          { kind: "pv", hourStarts: [run - H], issuedAt: [run - 2 * H], p10Wh: [1], p50Wh: [2], p90Wh: [3] },
        ],
      },
    };
    const sets = forecastDatasets(forecast);
    const p50 = sets.find((set) => String(set.label).endsWith("P50"))!;
    expect(p50.data).toEqual([
      { x: run - H, y: 45 },
      { x: run, y: 50 },
      { x: run + H, y: 51 },
    ]);
    const band = sets.find((set) => String(set.label).endsWith("P10–P90"))!;
    expect(band.data[0]).toEqual({ x: run - H, y: 70 });
    const real = sets.find((set) => String(set.label).endsWith("✓"))!;
    expect(real.data).toEqual([
      { x: run - 2 * H, y: 48 },
      { x: run - H, y: 52 },
      { x: run, y: 55 },
    ]);
  });
});

describe("newestSettled", () => {
  const clearing = {
    intervalId: 12,
    readingsRoot: "0x",
    clearingPrice: 150_000,
    tradedWh: 400,
    surplusWh: 0,
    coveredWh: 0,
    gridImportWh: 0,
    blockNumber: 1,
    txHash: "0x",
  };
  const summary = { intervalId: 11, start: 11 * 900, clearingPrice: 0, tradedWh: 0 };

  it("takes the clearing list's interval when the cached summary is older", () => {
    expect(newestSettled(summary, clearing, 900)).toEqual({
      intervalId: 12,
      start: 12 * 900,
      clearingPrice: 150_000,
      tradedWh: 400,
    });
  });

  it("keeps the summary's interval when it is as new or newer, or when there is no list yet", () => {
    expect(newestSettled({ ...summary, intervalId: 12 }, clearing, 900)?.tradedWh).toBe(0);
    expect(newestSettled(summary, null, 900)).toBe(summary);
    expect(newestSettled(null, null, 900)).toBeNull();
  });
});

describe("forecastSourceText", () => {
  const series = (kind: string, servedModel: string, usesWeather: boolean) => ({
    household: null,
    kind,
    modelVersion: `${kind}-24h/v1`,
    servedModel,
    usesWeather,
    hourStarts: [run],
    p10Wh: [1],
    p50Wh: [2],
    p90Wh: [3],
  });

  it("names the model served for each series and says when no weather forecast fed them", () => {
    const text = forecastSourceText({
      issuedAt: run,
      horizonH: 24,
      series: [series("load", "LSTM", false), series("pv", "clear-sky-index persistence", false)],
      past: null,
    });
    expect(text).toContain(t("dash.servedBy", { kind: t("common.consumption"), model: "LSTM" }));
    expect(text).toContain(
      t("dash.servedBy", { kind: t("common.production"), model: "clear-sky-index persistence" }),
    );
    expect(text).toContain(t("dash.weatherNone"));
  });

  it("says a weather forecast was used when one series had it", () => {
    const text = forecastSourceText({
      issuedAt: run,
      horizonH: 24,
      series: [series("load", "ridge", false), series("pv", "LSTM", true)],
      past: null,
    });
    expect(text).toContain(t("dash.weatherUsed"));
    expect(text).not.toContain(t("dash.weatherNone"));
  });
});
