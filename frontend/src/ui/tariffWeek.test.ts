// The week's chart data: each band's hours as stepped runs at that band's prices, never joined across other bands.
// The band of an interval and a limit checked against it (the order form, the clearing prices).
// Run: npx vitest run frontend/src/ui/tariffWeek.test.ts
import { describe, expect, it } from "vitest";
import { price } from "../format";
import { t } from "../i18n";
import {
  bandName,
  bandOfInterval,
  bandsOfIntervals,
  limitOutsideBand,
  namedBand,
  type TariffWeek,
  weekSeries,
} from "./tariffWeek";

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
      effectiveFrom: (start + 5 * H) / 900,
      effectiveFromTime: start + 5 * H,
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

// The band of an interval: the band of the hour holding its start, as CommunityRegistry.bandOf reads its calendar.
describe("bandOfInterval and bandsOfIntervals", () => {
  const seconds = 900; // four intervals an hour
  const first = start / seconds;
  it("takes the band of the hour that holds the interval's start", () => {
    expect(bandOfInterval([week], first, seconds)?.band.name).toBe("P3");
    expect(bandOfInterval([week], first + 7, seconds)?.band.name).toBe("P3"); // 01:45, still the second hour
    expect(bandOfInterval([week], first + 8, seconds)?.band.name).toBe("P1"); // 02:00
    expect(bandOfInterval([week], first + 20, seconds)?.version.flat).toBe(true);
  });
  it("is null outside the weeks and where the week does not know the band", () => {
    expect(bandOfInterval([week], first - 1, seconds)).toBeNull();
    expect(bandOfInterval([week], first + 7 * 4, seconds)).toBeNull(); // the hour after the week
    const unknown = { ...week, hours: week.hours.map((h, i) => (i === 2 ? { ...h, band: null } : h)) };
    expect(bandOfInterval([unknown], first + 8, seconds)).toBeNull();
  });
  it("looks in every week given", () => {
    const later = {
      ...week,
      from: week.to,
      to: week.to + 7 * H,
      versions: [week.versions[1]],
      hours: week.hours.map((h) => ({ start: h.start + 7 * H, version: 2, band: 0 })),
    };
    expect(bandOfInterval([week, later], first + 8, seconds)?.band.name).toBe("P1");
    expect(bandOfInterval([week, later], first + 7 * 4 + 8, seconds)?.version.flat).toBe(true);
    expect(bandOfInterval([week], first + 7 * 4 + 8, seconds)).toBeNull();
  });
  it("lists each band of a window once, in order, with its intervals, and counts the unknown ones", () => {
    // 01:30 to 07:30: two P3 quarters, eight P1, four P3, eight flat, then two quarters past the week.
    const over = bandsOfIntervals([week], first + 6, first + 29, seconds);
    expect(over.bands.map((b) => [bandName(b), b.intervals])).toEqual([
      ["P3", 6],
      ["P1", 8],
      [t("tariff.flat"), 8],
    ]);
    expect(over.unknown).toBe(2);
  });
  it("refuses a window it cannot walk", () => {
    expect(() => bandsOfIntervals([week], 0, 2_000_000, seconds)).toThrow(RangeError);
  });
});

describe("limitOutsideBand", () => {
  const p3 = bandOfInterval([week], start / 900, 900)!; // bounds 0.060 - 0.095
  const flat = bandOfInterval([week], (start + 5 * H) / 900, 900)!; // bounds 0.050 - 0.200
  it("accepts a limit within the band's bounds, ends included", () => {
    for (const limit of [60_000n, 80_000n, 95_000n]) expect(limitOutsideBand(limit, p3)).toBeNull();
  });
  it("names the band, its bound and the price when the limit is outside", () => {
    const above = limitOutsideBand(96_000n, p3);
    expect(above).toBe(
      t("market.invalid.priceAboveBand", {
        price: price(96_000),
        band: "P3",
        retail: price(95_000),
        feedIn: price(60_000),
        bounds: `${price(60_000)} – ${price(95_000)}`,
      }),
    );
    expect(above).toContain("P3");
    const below = limitOutsideBand(59_000n, p3);
    expect(below).toContain(price(60_000));
    expect(below).toContain(price(59_000));
    expect(below).not.toBe(above);
  });
  it("keeps the flat tariff's messages for a flat version", () => {
    expect(limitOutsideBand(201_000n, flat)).toBe(
      t("market.invalid.priceAboveRetail", { price: price(201_000), retail: price(200_000) }),
    );
    expect(limitOutsideBand(49_000n, flat)).toBe(
      t("market.invalid.priceBelowFeedIn", { price: price(49_000), feedIn: price(50_000) }),
    );
  });
});

// A version may start within an hour: the week gives that hour the version in force at its start.
describe("the hour a version starts in", () => {
  const seconds = 900;
  const first = start / seconds;
  const v3 = {
    ...week.versions[0],
    version: 3,
    effectiveFrom: first + 9, // 02:15
    effectiveFromTime: start + 2 * H + 900,
    bands: [band(0, "Peak", "0.2000", "0.0700"), band(1, "Valley", "0.1000", "0.0700")],
  };
  const changing: TariffWeek = {
    ...week,
    versions: [week.versions[0], v3],
    hours: week.hours.map((h, i) => (i < 3 ? { ...h, version: 1 } : { ...h, version: 3, band: 1 })),
  };
  it("keeps the old version's band before the start and leaves the new one's unknown until the next hour", () => {
    expect(bandOfInterval([changing], first + 8, seconds)?.band.name).toBe("P1");
    expect(bandOfInterval([changing], first + 9, seconds)).toBeNull();
    expect(bandOfInterval([changing], first + 11, seconds)).toBeNull();
    expect(bandOfInterval([changing], first + 12, seconds)?.band.name).toBe("Valley");
  });
  it("knows a one-band version's band from its start", () => {
    // The flat version 2 of `week` starts at 05:00; moved to 04:30, the intervals from then on are flat.
    const flatEarly = {
      ...week,
      versions: [week.versions[0], { ...week.versions[1], effectiveFrom: first + 18 }],
    };
    expect(bandOfInterval([flatEarly], first + 17, seconds)?.band.name).toBe("P3");
    expect(bandOfInterval([flatEarly], first + 18, seconds)?.version.flat).toBe(true);
  });
  it("takes the registry's answer for the first interval of a window", () => {
    const fromChain = namedBand([changing], {
      version: 3,
      band: 0,
      feedInPrice: 70_000,
      retailPrice: 200_000,
    });
    expect(bandName(fromChain)).toBe("Peak");
    const over = bandsOfIntervals([changing], first + 10, first + 12, seconds, fromChain);
    expect(over.bands.map((b) => [bandName(b), b.intervals])).toEqual([
      ["Peak", 1],
      ["Valley", 1],
    ]);
    expect(over.unknown).toBe(1);
  });
  it("names a band of a version the weeks do not list by its number, with the registry's bounds", () => {
    const unknown = namedBand([week], { version: 9, band: 2, feedInPrice: 1_000, retailPrice: 2_000 });
    expect([bandName(unknown), unknown.band.feedInPrice, unknown.band.retailPrice]).toEqual([
      "#2",
      1_000,
      2_000,
    ]);
  });
});
