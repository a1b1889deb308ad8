// Community dashboard: live production and consumption, the summary numbers, surplus against deficit,
// energy for sale, forecasts with P10–P90 bands (when the forecaster has run), short households, clearing prices.
import type { Chart } from "chart.js";
import { api, isMissing } from "../api";
import { h, replace } from "../dom";
import { config } from "../config";
import { clock, energy, power, price, shortHex, time } from "../format";
import { t } from "../i18n";
import { type LiveIntervalSettled, type LiveReading, onLive } from "../live";
import type { Cleanup } from "../router";
import { bandDatasets, barChart, COLORS, type Point, timeChart } from "../ui/charts";
import { kpiPanel } from "../ui/kpis";
import { card, empty, fill, stat } from "../ui/parts";
import { type BandInForce, bandColor, bandsOf, bandTag, bandText } from "../ui/tariffWeek";

export interface Summary {
  asOf: number;
  intervalSeconds: number;
  households: number;
  reporting: number;
  now: { productionW: number; consumptionW: number; surplusW: number; deficitW: number };
  currentInterval: {
    intervalId: number;
    start: number;
    end: number;
    producedWh: number;
    consumedWh: number;
    surplusWh: number;
    deficitWh: number;
  };
  averageConsumption: { households: number; perHouseholdWh24h: number | null; perHouseholdW: number | null };
  availableForSale: {
    openAsksWh: number;
    openAsks: number;
    creditsWh: number | null;
    totalWh: number | null;
  };
  /** The chain's newest settled interval, the same as /api/market/clearing's first item; price 0 when nothing traded. */
  lastSettled: {
    intervalId: number;
    start: number;
    clearingPrice: number;
    tradedWh: number;
  } | null;
  catchUp: CatchUp;
  forecast?: { next24h: ForecastTotals | null; next7d: ForecastTotals | null };
}

export interface CatchUp {
  settled: number;
  total: number;
  behind: number;
  lastSettledStart: number | null;
  replaying: boolean;
}

/** "Replaying history: N of M intervals settled", while settlement is well behind the clock; nothing otherwise. */
export function catchUpNote(catchUp: CatchUp | undefined): HTMLElement | null {
  if (!catchUp?.replaying) return null;
  return h(
    "p.catch-up",
    { role: "status", dataset: { testid: "catch-up" } },
    t("dash.catchUp", { settled: catchUp.settled, total: catchUp.total }),
    " ",
    h("small", null, t("dash.catchUpDetail", { when: time(catchUp.lastSettledStart) })),
  );
}

/**
 * The catch-up note for pages other than the dashboard (household, market), where figures of a replayed day
 * would otherwise read as today's: the summary's catchUp, refreshed at most every 5 s as intervals settle.
 */
export function catchUpBanner(stops: (() => void)[]): HTMLElement {
  const box = h("div", { dataset: { testid: "catch-up-box" } });
  let last = 0;
  const refresh = async () => {
    last = Date.now();
    const summary = await api<{ catchUp?: CatchUp }>("/api/community/summary").catch(() => null);
    replace(box, summary ? catchUpNote(summary.catchUp) : null);
  };
  void refresh();
  stops.push(
    onLive("interval_settled", () => {
      if (Date.now() - last > 5000) void refresh();
    }),
  );
  return box;
}

/** A settled interval in words: its clock time and the chain's price with the interval's tariff band (when
 * known), or that nothing traded. */
function settledText(
  settled: { start: number; clearingPrice: number; tradedWh: number },
  band: BandInForce | null,
): string {
  return settled.tradedWh > 0 && settled.clearingPrice > 0
    ? t("dash.lastSettledDetail", {
        time: clock(settled.start),
        price: band ? `${price(settled.clearingPrice)} (${bandText(band)})` : price(settled.clearingPrice),
        energy: energy(settled.tradedWh),
      })
    : t("dash.lastSettledNoTrade", { time: clock(settled.start) });
}

interface ForecastTotals {
  hours: number;
  consumedWh: { p10: number; p50: number; p90: number };
  producedWh: { p10: number; p50: number; p90: number };
  surplusWh: number;
  deficitWh: number;
  shortHouseholds: number;
}

/** GET /api/community/forecast and /api/households/<a>/forecast: P10/P50/P90 per hour beside the actual Wh. */
export interface ForecastSeries {
  issuedAt: number | null;
  horizonH: number | null;
  series: {
    household: string | null;
    kind: string; // "load" or "pv" today; typed as string so a kind added later still renders
    /** the artifact (e.g. "load-24h/20261207T…") and the candidate the run served from it */
    modelVersion?: string;
    servedModel?: string;
    /** whether a weather forecast fed the values */
    usesWeather?: boolean;
    hourStarts: number[];
    p10Wh: number[];
    p50Wh: number[];
    p90Wh: number[];
    actualWh?: (number | null)[];
  }[];
  past: {
    hourStarts: number[];
    consumedWh: (number | null)[];
    producedWh: (number | null)[];
    /** per kind, what the newest run issued before each past hour predicted for it */
    forecast?: {
      kind: string;
      hourStarts: number[];
      issuedAt: number[];
      p10Wh: number[];
      p50Wh: number[];
      p90Wh: number[];
    }[];
  } | null;
}

interface SeriesPoint {
  start: number;
  producedWh: number | null;
  consumedWh: number | null;
}
interface Outlook {
  issuedAt: number | null;
  shortHouseholds: { household: string; totalDeficitWh: number }[];
  shortHouseholdsTotal?: number;
}

const LIVE_WINDOW_S = 300;
const LIVE_CHART_S = 1800;

type PowerNow = Summary["now"];

/** The summary's cards; `live` (power from the latest readings) stands in while the summary has no meter reporting yet. */
type Settled = NonNullable<Summary["lastSettled"]>;

/**
 * The newer of the summary's last settled interval and the clearing list's first item. The summary is cached
 * for a few seconds on the server, the list is not, so during a catch-up the list can be ahead: the card must
 * never name an older interval than the chart beside it.
 */
export function newestSettled(
  summary: Settled | null,
  clearing: LiveIntervalSettled | null,
  intervalSeconds: number,
): Settled | null {
  if (!clearing || (summary && summary.intervalId >= clearing.intervalId)) return summary;
  return {
    intervalId: clearing.intervalId,
    start: clearing.intervalId * intervalSeconds,
    clearingPrice: clearing.clearingPrice,
    tradedWh: clearing.tradedWh,
  };
}

function summaryCards(summary: Summary, live: PowerNow | null, settledBand: BandInForce | null): HTMLElement {
  const { currentInterval: interval, averageConsumption: average, availableForSale: sale } = summary;
  const now = summary.reporting === 0 && live ? live : summary.now;
  const total = now.surplusW + now.deficitW;
  const surplusShare = total ? Math.round((now.surplusW / total) * 100) : 0;
  return h(
    "div",
    null,
    catchUpNote(summary.catchUp),
    h(
      "div.stats",
      { dataset: { testid: "summary" } },
      stat(t("dash.productionNow"), power(now.productionW), undefined, "production-now"),
      stat(t("dash.consumptionNow"), power(now.consumptionW), undefined, "consumption-now"),
      h(
        "div.stat.wide",
        null,
        h("div.stat-label", null, t("dash.balanceNow")),
        h(
          "div.balance-bar",
          { role: "img", "aria-label": `${t("common.surplus")} ${surplusShare}%` },
          total
            ? [
                h("span.surplus", { style: `width:${surplusShare}%` }),
                h("span.deficit", { style: `width:${100 - surplusShare}%` }),
              ]
            : null,
        ),
        h(
          "div.stat-detail",
          null,
          t("dash.surplusNow", { value: power(now.surplusW) }),
          " · ",
          t("dash.deficitNow", { value: power(now.deficitW) }),
        ),
      ),
      stat(
        t("dash.currentInterval"),
        `#${interval.intervalId}`,
        t("dash.currentIntervalDetail", {
          produced: energy(interval.producedWh),
          consumed: energy(interval.consumedWh),
        }),
      ),
      stat(t("dash.intervalSurplus"), energy(interval.surplusWh)),
      stat(t("dash.intervalDeficit"), energy(interval.deficitWh)),
      stat(
        t("dash.avgConsumption"),
        average.perHouseholdW === null ? "—" : power(average.perHouseholdW),
        average.perHouseholdWh24h === null
          ? undefined
          : t("dash.avgConsumptionDetail", {
              energy: energy(average.perHouseholdWh24h),
              power: power(average.perHouseholdW),
            }),
      ),
      stat(
        t("dash.forSale"),
        energy(sale.totalWh ?? sale.openAsksWh),
        t("dash.forSaleDetail", {
          asks: energy(sale.openAsksWh),
          count: sale.openAsks,
          credits: energy(sale.creditsWh),
        }),
        "for-sale",
      ),
      stat(
        t("dash.households"),
        String(summary.households),
        t("dash.reporting", { reporting: summary.reporting, households: summary.households }),
      ),
      stat(
        t("dash.lastSettled"),
        summary.lastSettled ? `#${summary.lastSettled.intervalId}` : "—",
        summary.lastSettled ? settledText(summary.lastSettled, settledBand) : t("dash.noClearing"),
        "last-settled",
      ),
      forecastStat(t("dash.forecastTotal24"), summary.forecast?.next24h ?? null),
      forecastStat(t("dash.forecastTotal7d"), summary.forecast?.next7d ?? null),
    ),
  );
}

function forecastStat(label: string, totals: ForecastTotals | null): HTMLElement {
  if (!totals) return stat(label, "—", t("dash.noForecastShort"));
  return stat(
    label,
    `${energy(totals.consumedWh.p50)} / ${energy(totals.producedWh.p50)}`,
    t("dash.forecastTotalDetail", {
      surplus: energy(totals.surplusWh),
      deficit: energy(totals.deficitWh),
      short: totals.shortHouseholds,
    }),
  );
}

/** Community power from each meter's latest register deltas, as readings arrive. */
class LivePower {
  private last = new Map<string, LiveReading>();
  private rates = new Map<string, { ts: number; productionW: number; consumptionW: number }>();

  add(reading: LiveReading): PowerNow | null {
    const previous = this.last.get(reading.meter);
    this.last.set(reading.meter, reading);
    if (previous && reading.ts > previous.ts) {
      const seconds = reading.ts - previous.ts;
      this.rates.set(reading.meter, {
        ts: reading.ts,
        productionW: ((reading.producedWh - previous.producedWh) * 3600) / seconds,
        consumptionW: ((reading.consumedWh - previous.consumedWh) * 3600) / seconds,
      });
    }
    const sum = { productionW: 0, consumptionW: 0, surplusW: 0, deficitW: 0 };
    let any = false;
    for (const rate of this.rates.values()) {
      if (rate.ts < reading.ts - LIVE_WINDOW_S) continue;
      sum.productionW += rate.productionW;
      sum.consumptionW += rate.consumptionW;
      sum.surplusW += Math.max(0, rate.productionW - rate.consumptionW);
      sum.deficitW += Math.max(0, rate.consumptionW - rate.productionW);
      any = true;
    }
    return any
      ? {
          productionW: Math.round(sum.productionW),
          consumptionW: Math.round(sum.consumptionW),
          surplusW: Math.round(sum.surplusW),
          deficitW: Math.round(sum.deficitW),
        }
      : null;
  }
}

/** Chart datasets of a forecast: per series a P10–P90 band and P50, and the real Wh (the past block and hours over).
 * Over the past block the band is what was predicted before each hour (the newest run issued before it), so the
 * real line is drawn against the forecast for the same hours, and the current run's band continues it. */
export function forecastDatasets(forecast: ForecastSeries) {
  return forecast.series.flatMap((s) => {
    const solar = s.kind === "pv";
    const real: Point[] = [];
    const past = forecast.past;
    if (past)
      past.hourStarts.forEach((x, i) => real.push({ x, y: (solar ? past.producedWh : past.consumedWh)[i] }));
    s.hourStarts.forEach((x, i) => {
      const value = s.actualWh?.[i];
      if (value !== null && value !== undefined) real.push({ x, y: value });
    });
    const before = past?.forecast?.find((entry) => entry.kind === s.kind);
    const keep = before ? before.hourStarts.map((x) => x < (s.hourStarts[0] ?? Infinity)) : [];
    const earlier = <T>(values: T[] | undefined) => (values ?? []).filter((_, i) => keep[i]);
    return bandDatasets(
      solar ? t("common.production") : t("common.consumption"),
      solar ? COLORS.production : COLORS.consumption,
      solar ? COLORS.bandSolar : COLORS.band,
      [...earlier(before?.hourStarts), ...s.hourStarts],
      [...earlier(before?.p10Wh), ...s.p10Wh],
      [...earlier(before?.p50Wh), ...s.p50Wh],
      [...earlier(before?.p90Wh), ...s.p90Wh],
      real,
    );
  });
}

/** Which model made each series of a forecast, and whether a weather forecast fed it: one line under the chart. */
export function forecastSourceText(forecast: ForecastSeries): string {
  const models = forecast.series.map((s) =>
    t("dash.servedBy", {
      kind: s.kind === "pv" ? t("common.production") : t("common.consumption"),
      model: s.servedModel ?? "—",
    }),
  );
  const weather = forecast.series.some((s) => s.usesWeather) ? t("dash.weatherUsed") : t("dash.weatherNone");
  return [...models, weather].join(" · ");
}

/** The chart's source line, with each series' artifact version on hover. */
export function forecastSource(forecast: ForecastSeries): HTMLElement {
  return h(
    "p.note",
    {
      dataset: { testid: "forecast-source" },
      title: forecast.series.map((s) => s.modelVersion ?? "").join("\n"),
    },
    forecastSourceText(forecast),
  );
}

function forecastBlock(title: string, horizon: number, pastHours: number, charts: Chart[]): HTMLElement {
  const body = h("div");
  fill(body, async () => {
    let forecast: ForecastSeries;
    try {
      forecast = await api<ForecastSeries>(`/api/community/forecast?horizon=${horizon}&past=${pastHours}`);
    } catch (error) {
      if (isMissing(error)) return empty(t("dash.noForecast"));
      throw error;
    }
    if (!forecast.issuedAt || !forecast.series.length) return empty(t("dash.noForecast"));
    const canvas = h("canvas");
    requestAnimationFrame(() => charts.push(timeChart(canvas, forecastDatasets(forecast), "Wh")));
    return [h("div.chart", null, canvas), forecastSource(forecast)];
  });
  return card(title, null, body);
}

export function dashboardPage(root: HTMLElement): Cleanup {
  const charts: Chart[] = [];
  const stops: (() => void)[] = [];
  const summaryBox = h("div");
  const latest = h("p.latest-reading", { dataset: { testid: "latest-reading" } }, t("dash.noReadings"));
  const liveCanvas = h("canvas", { "aria-label": t("dash.liveChart") });
  const clearingBox = h("div");
  const shortBox = h("div");

  const communityKpis = kpiPanel("/api/community/kpis");
  replace(
    root,
    h("h1", null, t("dash.title")),
    summaryBox,
    card(
      t("dash.liveChart"),
      "live-chart",
      h("p.note", null, t("dash.liveChartNote")),
      h("div.chart", null, liveCanvas),
      latest,
    ),
    h(
      "div.grid-2",
      null,
      forecastBlock(t("dash.forecast24"), 24, 48, charts),
      forecastBlock(t("dash.forecast7d"), 168, 168, charts),
    ),
    h(
      "div.grid-2",
      null,
      card(t("dash.shortHouseholds"), null, shortBox),
      card(t("dash.clearingPrices"), null, clearingBox),
    ),
    card(t("kpi.communityTitle"), "community-kpis", communityKpis.element),
  );

  let liveNow: PowerNow | null = null;
  let newestClearing: LiveIntervalSettled | null = null;
  let shownSettledId = -1;
  const refreshSummary = fill(summaryBox, async () => {
    const summary = await api<Summary>("/api/community/summary");
    summary.lastSettled = newestSettled(summary.lastSettled, newestClearing, config().intervalSeconds);
    shownSettledId = summary.lastSettled?.intervalId ?? -1;
    const [band] = summary.lastSettled
      ? await bandsOf([summary.lastSettled.intervalId], config().intervalSeconds)
      : [];
    return summaryCards(summary, liveNow, band ?? null);
  });

  // The live chart shows the last half hour: minute buckets from the API first, then each reading as it arrives.
  const live = timeChart(
    liveCanvas,
    [
      {
        label: t("chart.productionW"),
        data: [],
        borderColor: COLORS.production,
        backgroundColor: COLORS.bandSolar,
        fill: true,
        pointRadius: 2,
      },
      {
        label: t("chart.consumptionW"),
        data: [],
        borderColor: COLORS.consumption,
        fill: false,
        pointRadius: 2,
      },
    ],
    "W",
  );
  charts.push(live);
  const series = () => live.data.datasets.map((dataset) => dataset.data);
  const redraw = () => {
    const last = series()[0].at(-1)?.x ?? Math.floor(Date.now() / 1000);
    for (const data of series()) while (data.length && data[0].x < last - LIVE_CHART_S) data.shift();
    // The axis spans the data, up to the last half hour, so a young community's few points spread out.
    const first = series()[0][0]?.x ?? last - 60;
    const x = live.options.scales!.x!;
    x.min = Math.min(Math.max(first, last - LIVE_CHART_S), last - 60);
    x.max = last;
    live.update();
  };
  const nowS = Math.floor(Date.now() / 1000);
  void api<{ points: SeriesPoint[]; resolution: number }>(
    `/api/community/readings?from=${nowS - LIVE_CHART_S}&resolution=60`,
  )
    .then(({ points, resolution }) => {
      const toW = (wh: number | null) => (wh === null ? null : Math.round((wh * 3600) / resolution));
      // Only whole minutes: the current one is still filling up, and live points follow it.
      const whole = points.filter((p) => p.start + resolution <= nowS && p.producedWh !== null);
      const [production, consumption] = series();
      const firstLive = production[0]?.x ?? Infinity;
      production.unshift(
        ...whole
          .filter((p) => p.start + resolution < firstLive)
          .map((p) => ({ x: p.start + resolution, y: toW(p.producedWh) })),
      );
      consumption.unshift(
        ...whole
          .filter((p) => p.start + resolution < firstLive)
          .map((p) => ({ x: p.start + resolution, y: toW(p.consumedWh) })),
      );
      // The caption says what the chart shows: readings up to its last point, even before one arrives live.
      const lastPoint = production.at(-1)?.x;
      if (lastPoint !== undefined && !liveCaption)
        latest.textContent = t("dash.latestReadingAt", { time: time(lastPoint) });
      redraw();
    })
    .catch(() => undefined);

  const power = new LivePower();
  let liveCaption = false;
  let summaryTimer: number | undefined;
  stops.push(
    onLive("reading", (reading) => {
      latest.textContent = t("dash.latestReading", {
        household: shortHex(reading.household),
        time: time(reading.ts),
      });
      liveCaption = true;
      const rates = power.add(reading);
      if (rates) liveNow = rates;
      const [production, consumption] = series();
      if (rates && reading.ts > (production.at(-1)?.x ?? 0)) {
        production.push({ x: reading.ts, y: rates.productionW });
        consumption.push({ x: reading.ts, y: rates.consumptionW });
        redraw();
      }
      if (summaryTimer === undefined) {
        summaryTimer = window.setTimeout(() => {
          summaryTimer = undefined;
          void refreshSummary();
        }, 2000);
      }
    }),
  );

  // The clearing history and the last-settled card read the same list (the chain's IntervalSettled events):
  // every settled interval is a bar, one where nothing traded is a gap, and the note names the newest of them.
  const refreshClearing = fill(clearingBox, async () => {
    const { items } = await api<{ items: LiveIntervalSettled[] }>("/api/market/clearing?limit=48");
    if (!items.length) return empty(t("dash.noClearing"));
    const seconds = config().intervalSeconds;
    const settled = [...items].reverse();
    // The band of each settled interval: its bar's colour, its tooltip, and the legend under the chart.
    const bands = await bandsOf(
      settled.map((item) => item.intervalId),
      seconds,
    );
    const traded = settled.filter((item) => item.tradedWh > 0 && item.clearingPrice > 0);
    const newest = items[0];
    newestClearing = newest;
    if (newest.intervalId > shownSettledId) void refreshSummary();
    const note = h(
      "p.note",
      { dataset: { testid: "clearing-last" } },
      `${t("dash.lastSettled")}: #${newest.intervalId} · `,
      settledText(
        {
          start: newest.intervalId * seconds,
          clearingPrice: newest.clearingPrice,
          tradedWh: newest.tradedWh,
        },
        bands[bands.length - 1],
      ),
    );
    if (!traded.length) return h("div", null, empty(t("dash.noTradeYet", { count: settled.length })), note);
    const canvas = h("canvas");
    requestAnimationFrame(() =>
      charts.push(
        barChart(
          canvas,
          settled.map((c) => clock(c.intervalId * seconds)),
          settled.map((c) => (c.tradedWh > 0 && c.clearingPrice > 0 ? c.clearingPrice / 1e6 : null)),
          t("chart.price"),
          bands.map((band) => (band ? bandColor(band.band) : COLORS.price)),
          (v) => `${v.toFixed(3)} €`,
          bands.map((band) => (band ? bandText(band) : null)),
        ),
      ),
    );
    // Each band once, in the order of the intervals.
    const legend = new Map<string, BandInForce>();
    for (const band of bands) if (band) legend.set(`${band.version.version}:${band.band.index}`, band);
    return h(
      "div",
      null,
      h("div.chart.small", null, canvas),
      legend.size
        ? h(
            "p.note",
            { dataset: { testid: "clearing-bands" } },
            t("tariff.clearingBands"),
            [...legend.values()].map((band) => [" ", bandTag(band)]),
          )
        : null,
      note,
    );
  });

  fill(shortBox, async () => {
    let outlook: Outlook;
    try {
      outlook = await api<Outlook>("/api/community/outlook?horizon=24&limit=20");
    } catch (error) {
      if (isMissing(error)) return empty(t("dash.noForecast"));
      throw error;
    }
    if (!outlook.issuedAt) return empty(t("dash.noForecast"));
    if (!outlook.shortHouseholds.length) return empty(t("dash.noShort"));
    return h(
      "ul.plain",
      null,
      outlook.shortHouseholds.map((s) =>
        h("li", null, h("code", null, shortHex(s.household)), " — ", energy(s.totalDeficitWh)),
      ),
    );
  });

  stops.push(
    onLive("interval_settled", () => {
      void refreshSummary();
      void refreshClearing();
      void communityKpis.refresh(); // the server computes it at most once a minute
    }),
  );
  const timer = window.setInterval(() => void refreshSummary(), 15_000);

  return () => {
    window.clearInterval(timer);
    if (summaryTimer !== undefined) window.clearTimeout(summaryTimer);
    stops.forEach((stop) => stop());
    charts.forEach((chart) => chart.destroy());
  };
}
