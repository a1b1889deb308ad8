// A week of tariff bands and prices (GET /api/tariffs/week, and the admin's upload preview): the retail and
// feed-in price of each hour as stepped lines, one colour per band, and the bands' table with the on-chain bounds.
import type { Chart, ChartDataset } from "chart.js";
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

function swatch(color: string): HTMLElement {
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
      `${price(band.feedInPrice)} – ${price(band.retailPrice)}`,
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
