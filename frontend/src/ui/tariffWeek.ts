// A week of tariff bands and prices (GET /api/tariffs/week, and the admin's upload preview): the retail and
// feed-in price of each hour as stepped lines, one colour per band, and the bands' table with the on-chain bounds.
// The pages that show a price name its band from here too: the band of an interval, its bounds, the weeks fetched.
import type { Chart, ChartDataset } from "chart.js";
import { api } from "../api";
import { readIntervalBand } from "../chain";
import { h } from "../dom";
import { price } from "../format";
import { locale, t } from "../i18n";
import { type Point, timeChart } from "./charts";
import { table } from "./parts";

export interface TariffBand {
  index: number;
  name: string;
  feedInPrice: number; // on-chain bounds, payment units per kWh
  retailPrice: number;
  prices: { retailImport: string; feedIn: string; gridAccess: string; gridCharges: string } | null;
}
export interface TariffVersion {
  version: number;
  scheduleHash: string;
  effectiveFrom: number;
  effectiveFromTime: number;
  flat: boolean;
  name: string | null;
  timeZone: string | null;
  fileFound: boolean;
  bands: TariffBand[];
}
export interface TariffWeek {
  from: number;
  to: number;
  intervalSeconds: number;
  versions: TariffVersion[];
  hours: { start: number; version: number | null; band: number | null }[];
}

// One colour per band index; P1 (the dearest in the examples) first.
const BAND_COLORS = ["#d64545", "#e0a100", "#20a36b", "#3867d6", "#7b4fd6", "#8a4b00"];

export interface BandSeries {
  label: string;
  color: string;
  retail: Point[];
  feedIn: Point[];
}

/** EUR per kWh of a band: the file's prices, else (a flat version) the on-chain bounds. */
function bandPrices(band: TariffBand): { retail: number; feedIn: number } {
  if (band.prices) return { retail: Number(band.prices.retailImport), feedIn: Number(band.prices.feedIn) };
  return { retail: band.retailPrice / 1e6, feedIn: band.feedInPrice / 1e6 };
}

/** Per (version, band) the hours it is in force as stepped points: each run of hours starts at its first hour,
 * holds its price to the run's end, and a gap (null) a second later keeps runs of the same band apart. */
export function weekSeries(week: TariffWeek): BandSeries[] {
  const versions = new Map(week.versions.map((v) => [v.version, v]));
  const series = new Map<string, BandSeries>();
  const several = week.versions.length > 1;
  week.hours.forEach((hour, i) => {
    if (hour.version === null || hour.band === null) return;
    const version = versions.get(hour.version);
    const band = version?.bands[hour.band];
    if (!version || !band) return;
    const key = `${version.version}:${band.index}`;
    let entry = series.get(key);
    if (!entry) {
      const name = version.flat ? t("tariff.flat") : band.name;
      entry = {
        label: several ? `${name} (v${version.version})` : name,
        color: BAND_COLORS[band.index % BAND_COLORS.length],
        retail: [],
        feedIn: [],
      };
      series.set(key, entry);
    }
    const { retail, feedIn } = bandPrices(band);
    entry.retail.push({ x: hour.start, y: retail });
    entry.feedIn.push({ x: hour.start, y: feedIn });
    const next = week.hours[i + 1];
    if (!next || next.version !== hour.version || next.band !== hour.band) {
      const end = hour.start + 3600;
      entry.retail.push({ x: end, y: retail }, { x: end + 1, y: null });
      entry.feedIn.push({ x: end, y: feedIn }, { x: end + 1, y: null });
    }
  });
  return [...series.values()];
}

export function tariffWeekChart(canvas: HTMLCanvasElement, week: TariffWeek): Chart<"line", Point[]> {
  const datasets: ChartDataset<"line", Point[]>[] = [];
  for (const band of weekSeries(week)) {
    const common = { borderColor: band.color, stepped: true, spanGaps: false, tension: 0 } as const;
    datasets.push({ ...common, label: `${band.label} · ${t("tariff.retail")}`, data: band.retail });
    datasets.push({
      ...common,
      label: `${band.label} · ${t("tariff.feedIn")}`,
      data: band.feedIn,
      borderDash: [5, 4],
      borderWidth: 1.5,
    });
  }
  const chart = timeChart(canvas, datasets, "€/kWh");
  const x = chart.options.scales?.x;
  if (x) Object.assign(x, { min: week.from, max: week.to });
  chart.update();
  return chart;
}

function eur(text: string | undefined): string {
  return text === undefined
    ? "—"
    : `${Number(text).toLocaleString(locale(), { minimumFractionDigits: 4, maximumFractionDigits: 6 })} €/kWh`;
}

export function swatch(color: string): HTMLElement {
  const element = h("span.swatch");
  element.style.backgroundColor = color; // through the CSSOM: the CSP refuses style attributes
  return element;
}

/** The bands of the versions a week shows: the file's prices and the bounds the market checks on-chain. */
export function bandsTable(week: TariffWeek, testId: string): HTMLElement {
  const rows = week.versions.flatMap((version) =>
    version.bands.map((band) => [
      h(
        "span",
        null,
        swatch(BAND_COLORS[band.index % BAND_COLORS.length]),
        ` ${version.flat ? t("tariff.flat") : band.name}`,
      ),
      version.flat ? `v${version.version}` : `v${version.version} · ${version.name ?? t("tariff.noFile")}`,
      eur(band.prices?.retailImport),
      eur(band.prices?.feedIn),
      eur(band.prices?.gridAccess),
      eur(band.prices?.gridCharges),
      boundsText(band),
    ]),
  );
  return table(
    [
      t("tariff.band"),
      t("tariff.version"),
      t("tariff.retail"),
      t("tariff.feedIn"),
      t("tariff.gridAccess"),
      t("tariff.gridCharges"),
      t("tariff.bounds"),
    ],
    rows,
    testId,
  );
}

// --- the band of an interval, wherever a price is shown ---

/** A band as in force for some interval: the version, and the band with its on-chain bounds. */
export interface BandInForce {
  version: TariffVersion;
  band: TariffBand;
}

export function bandColor(band: TariffBand): string {
  return BAND_COLORS[band.index % BAND_COLORS.length];
}

/** The band's name as pages show it: a flat version has one band, "flat tariff". */
export function bandName({ version, band }: BandInForce): string {
  return version.flat ? t("tariff.flat") : band.name;
}

/** The on-chain bounds a limit or clearing price must lie within: "0,060 €/kWh – 0,165 €/kWh". */
export function boundsText(band: TariffBand): string {
  return `${price(band.feedInPrice)} – ${price(band.retailPrice)}`;
}

/** "P1 · 0,060 €/kWh – 0,165 €/kWh": the band and its bounds, next to a price. */
export function bandText(inForce: BandInForce): string {
  const name = inForce.version.flat ? t("tariff.flat") : `${t("tariff.band")} ${inForce.band.name}`;
  return `${name} · ${boundsText(inForce.band)}`;
}

/** A swatch, the band's name and bounds: an inline element for tables and notes. */
export function bandTag(inForce: BandInForce | null, testId?: string): HTMLElement | string {
  if (!inForce) return "—";
  return h(
    "span.band-tag",
    { dataset: testId ? { testid: testId } : undefined },
    swatch(bandColor(inForce.band)),
    ` ${bandText(inForce)}`,
  );
}

/**
 * The band in force at `time` (unix seconds) by the weeks fetched: the band of the hour that holds it, as the
 * registry's calendar has one band per UTC hour (CommunityRegistry.bandOf takes an interval's start). Null when
 * no week covers the hour or the week does not know the band (a version whose file is not on this server).
 */
export function bandAt(weeks: readonly TariffWeek[], time: number): BandInForce | null {
  for (const week of weeks) {
    if (time < week.from || time >= week.to) continue;
    const hour = week.hours[Math.floor((time - week.from) / 3600)];
    if (!hour || hour.version === null || hour.band === null) return null;
    const version = week.versions.find((v) => v.version === hour.version);
    const band = version?.bands[hour.band];
    return version && band ? { version, band } : null;
  }
  return null;
}

/** The version in force at an interval among the weeks' versions (the latest started by then). */
function versionAt(weeks: readonly TariffWeek[], intervalId: number): TariffVersion | null {
  let found: TariffVersion | null = null;
  for (const week of weeks)
    for (const version of week.versions)
      if (version.effectiveFrom <= intervalId && (!found || version.version > found.version)) found = version;
  return found;
}

/**
 * The band of interval `intervalId`: the band in force at its start. The week gives each hour the version in force
 * at the hour's start; in the hour a new version starts, the intervals from its start are under the new version,
 * whose band the week does not give for that hour (unless it has one band): null there.
 */
export function bandOfInterval(
  weeks: readonly TariffWeek[],
  intervalId: number | bigint,
  intervalSeconds: number,
): BandInForce | null {
  const id = Number(intervalId);
  const inHour = bandAt(weeks, id * intervalSeconds);
  const version = versionAt(weeks, id);
  if (!inHour || !version || version.version === inHour.version.version) return inHour;
  return version.bands.length === 1 ? { version, band: version.bands[0] } : null;
}

/** A band as the registry answers it for an interval (bandOf, priceBounds), named from the weeks' versions; a
 * version the weeks do not list keeps its band's number as its name, as the week endpoint does without a file. */
export function namedBand(
  weeks: readonly TariffWeek[],
  onChain: { version: number; band: number; feedInPrice: number; retailPrice: number },
): BandInForce {
  const listed = weeks.flatMap((week) => week.versions).find((v) => v.version === onChain.version);
  const known = listed?.bands[onChain.band];
  const band: TariffBand = {
    index: onChain.band,
    name: known?.name ?? `#${onChain.band}`,
    feedInPrice: onChain.feedInPrice,
    retailPrice: onChain.retailPrice,
    prices: known?.prices ?? null,
  };
  const version: TariffVersion = listed ?? {
    version: onChain.version,
    scheduleHash: "",
    effectiveFrom: 0,
    effectiveFromTime: 0,
    flat: false,
    name: null,
    timeZone: null,
    fileFound: false,
    bands: [],
  };
  return { version, band };
}

export interface BandsOver {
  /** each band once, in the order the window first uses it, with how many of its intervals are in it */
  bands: (BandInForce & { intervals: number })[];
  /** intervals whose band the weeks cannot tell */
  unknown: number;
}

/** The bands of intervals fromId..toId (inclusive); `first`, when given, is the first interval's (the registry's
 * answer, which the market checks a limit against). */
export function bandsOfIntervals(
  weeks: readonly TariffWeek[],
  fromId: number,
  toId: number,
  intervalSeconds: number,
  first: BandInForce | null = null,
): BandsOver {
  if (!Number.isSafeInteger(fromId) || !Number.isSafeInteger(toId) || toId - fromId > 1_000_000) {
    throw new RangeError(`intervals ${fromId}..${toId}: not a window of at most a million intervals`);
  }
  const found = new Map<string, BandInForce & { intervals: number }>();
  let unknown = 0;
  for (let id = fromId; id <= toId; id++) {
    const inForce = id === fromId && first ? first : bandOfInterval(weeks, id, intervalSeconds);
    if (!inForce) {
      unknown++;
      continue;
    }
    const key = `${inForce.version.version}:${inForce.band.index}`;
    const entry = found.get(key);
    if (entry) entry.intervals++;
    else found.set(key, { ...inForce, intervals: 1 });
  }
  return { bands: [...found.values()], unknown };
}

/**
 * A limit price (payment units per kWh) against the band the market checks it with: placeOrder takes the band
 * of the window's first interval (EnergyMarket._checkPriceWithinBand). The refusal in words, or null when inside.
 */
export function limitOutsideBand(limitPrice: bigint, inForce: BandInForce): string | null {
  const retail = BigInt(inForce.band.retailPrice);
  const feedIn = BigInt(inForce.band.feedInPrice);
  if (limitPrice <= retail && limitPrice >= feedIn) return null;
  if (inForce.version.flat) {
    // One band: the messages of the flat tariff, with no band to name.
    return limitPrice > retail
      ? t("market.invalid.priceAboveRetail", { price: price(limitPrice), retail: price(retail) })
      : t("market.invalid.priceBelowFeedIn", { price: price(limitPrice), feedIn: price(feedIn) });
  }
  const values = {
    price: price(limitPrice),
    band: bandName(inForce),
    retail: price(retail),
    feedIn: price(feedIn),
    bounds: boundsText(inForce.band),
  };
  return t(limitPrice > retail ? "market.invalid.priceAboveBand" : "market.invalid.priceBelowBand", values);
}

const WEEK_SECONDS = 7 * 24 * 3600;
const WEEK_TTL_MS = 60_000; // a new version starts an interval or more after it is registered
const MAX_WEEKS = 16; // the longest order window (10,000 intervals of 15 minutes) is 15 weeks
const weekCache = new Map<number, { at: number; week: Promise<TariffWeek> }>();

/** GET /api/tariffs/week from the hour that holds `from` (each week fetched at most once a minute). */
export function tariffWeek(from: number): Promise<TariffWeek> {
  const start = Math.floor(from / 3600) * 3600;
  const now = Date.now();
  for (const [key, entry] of weekCache) if (now - entry.at > WEEK_TTL_MS) weekCache.delete(key);
  const cached = weekCache.get(start);
  if (cached) return cached.week;
  const week = api<TariffWeek>(`/api/tariffs/week?from=${start}`);
  weekCache.set(start, { at: now, week });
  week.catch(() => weekCache.delete(start)); // a failure is asked again next time
  return week;
}

/** The weeks that cover from..to (unix seconds), at most 16 of them. */
export function tariffWeeks(from: number, to: number): Promise<TariffWeek[]> {
  const start = Math.floor(from / 3600) * 3600;
  const count = Math.min(MAX_WEEKS, Math.max(1, Math.ceil((to + 1 - start) / WEEK_SECONDS)));
  return Promise.all(Array.from({ length: count }, (_, i) => tariffWeek(start + i * WEEK_SECONDS)));
}

const CHAIN_LOOKUPS = 24; // intervals a list asks the registry about when the week cannot tell their band

/** The band of each interval (null where it is not known): the weeks from the earliest one's hour are fetched,
 * and the registry is asked about the few the weeks cannot tell (the hour a version starts in). When the week
 * endpoint fails, every band is null and the prices show without one. */
export async function bandsOf(
  intervalIds: readonly number[],
  intervalSeconds: number,
): Promise<(BandInForce | null)[]> {
  if (!intervalIds.length) return [];
  const first = Math.min(...intervalIds) * intervalSeconds;
  const last = Math.max(...intervalIds) * intervalSeconds;
  let weeks: TariffWeek[];
  try {
    weeks = await tariffWeeks(first, last);
  } catch {
    return intervalIds.map(() => null);
  }
  const bands = intervalIds.map((id) => bandOfInterval(weeks, id, intervalSeconds));
  const missing = intervalIds.filter((_, i) => !bands[i]).slice(0, CHAIN_LOOKUPS);
  const answers = await Promise.all(
    missing.map((id) =>
      readIntervalBand(BigInt(id)).then(
        (answer) => namedBand(weeks, answer),
        () => null,
      ),
    ),
  );
  const fromChain = new Map(missing.map((id, i) => [id, answers[i]]));
  return intervalIds.map((id, i) => bands[i] ?? fromChain.get(id) ?? null);
}
