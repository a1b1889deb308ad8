// "Today against the forecast": over the hours already over, the band is what was forecast before each of them.
// Run: npx vitest run frontend/src/pages/dashboard.test.ts
import { describe, expect, it } from "vitest";
import { type ForecastSeries, forecastDatasets } from "./dashboard";

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
