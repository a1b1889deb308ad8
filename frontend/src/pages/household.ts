// My household: live power, balances read from the chain, today against the forecast, sell/buy windows
// with a one-click suggested order, the month's KPIs and savings, recent intervals and fills.
import type { Chart } from "chart.js";
import { type Address, encodeFunctionData, getAddress } from "viem";
import { api, isMissing } from "../api";
import { contract, readBalances } from "../chain";
import { config } from "../config";
import { h, replace } from "../dom";
import {
  dateTime,
  energy,
  energyColumn,
  ether,
  euro,
  euroColumn,
  power,
  price,
  shortHex,
  time,
} from "../format";
import { hasMessage, t } from "../i18n";
import { type LiveFill, onLive } from "../live";
import { type Cleanup, navigate } from "../router";
import { state } from "../store";
import { COLORS, type Point, timeChart } from "../ui/charts";
import { card, empty, fill, stat, table } from "../ui/parts";
import { type MeterStatus, meterPanel } from "../ui/meterPanel";
import { kpiPanel } from "../ui/kpis";
import { statementsPanel } from "../ui/statements";
import { bandsOf, bandsOfIntervals, bandTag, tariffWeeks, type TariffWeek } from "../ui/tariffWeek";
import { tokenPanel } from "../ui/tokenPanel";
import { toast } from "../ui/txpanel";
import { sendTransaction } from "../wallet/wallet";
import { catchUpBanner, type ForecastSeries, forecastDatasets, forecastSource } from "./dashboard";

interface Detail {
  address: string;
  meter: string;
  capacityW: number;
  active: boolean;
  live: {
    ts: number;
    powerW: number;
    producedWh: number;
    consumedWh: number;
    productionW: number | null;
    consumptionW: number | null;
  } | null;
  meterStatus: MeterStatus;
  recentIntervals: {
    intervalId: number;
    status: string;
    producedWh: number;
    consumedWh: number;
    clearingPrice: number | null;
    settlement: { creditedWh: number; burnedWh: number; gridImportWh: number } | null;
  }[];
}

/** GET /api/households/<a>/fills: the live `fill` payloads, with their cursor id. */
type Fill = LiveFill & { id: number };
/** A suggested order (GET /api/households/<a>/recommendations), ready for the order form. */
export interface SuggestedOrder {
  side: "ask" | "bid";
  limitPrice: number;
  amountWh: number;
  validFrom: number;
  validTo: number;
  window: { start: number; end: number };
  /** base units: what it is worth against the grid if it fills at its limit price */
  value: number;
}
/** GET /api/households/<a>/recommendations?alpha: the advice and the orders it suggests. */
interface Recommendations {
  alpha: number;
  advice: { sellWindows: unknown[]; buyWindows: unknown[] } | null;
  orders: SuggestedOrder[];
}

/** The shortfall rates a household may pick: each suggested amount is had (or lacked) with probability 1 − rate. */
export const SHORTFALL_RATES = [0.02, 0.05, 0.1, 0.2, 0.3] as const;
export const DEFAULT_SHORTFALL_RATE = 0.1;
const SHORTFALL_KEY = "vatio.shortfallRate";

/** The remembered rate when it is one on offer, else the default (10%). */
export function shortfallRateFrom(stored: string | null): number {
  const value = Number(stored);
  return SHORTFALL_RATES.find((rate) => rate === value) ?? DEFAULT_SHORTFALL_RATE;
}

function readShortfallRate(): number {
  try {
    return shortfallRateFrom(localStorage.getItem(SHORTFALL_KEY));
  } catch {
    return DEFAULT_SHORTFALL_RATE; // private mode: nothing remembered
  }
}

function percent(rate: number): string {
  return `${Math.round(rate * 100)} %`;
}

/** One suggestion as words: what to do, when, and what it is worth in euros if it fills at its price. */
export function suggestionText(order: SuggestedOrder): string {
  const what = t(order.side === "ask" ? "home.sellWindow" : "home.buyWindow", {
    energy: energy(order.amountWh),
    start: dateTime(order.window.start),
    end: dateTime(order.window.end),
  });
  const worth = t(order.side === "ask" ? "home.sellWorth" : "home.buyWorth", { value: euro(order.value) });
  return `${what} · ${price(order.limitPrice)} · ${worth}`;
}

function statusText(status: string): string {
  const key = `status.${status}`;
  return hasMessage(key) ? t(key) : status;
}

/** The page's guard: who may see a household page, and whose. Returns the address or a message node. */
export function householdGate(params: Record<string, string>): Address | HTMLElement {
  const user = state.user;
  if (!user) return h("p.state.empty", { dataset: { testid: "need-sign-in" } }, t("wallet.needConnect"));
  if (params.address && user.admin) return getAddress(params.address);
  if (!user.household) {
    return h(
      "p.state.empty",
      { dataset: { testid: "not-household" } },
      t("wallet.needHousehold", { address: user.address }),
    );
  }
  return user.address;
}

function liveCard(detail: Detail, liveBox: HTMLElement): void {
  const live = detail.live;
  replace(
    liveBox,
    live
      ? [
          stat(
            t("home.livePower"),
            power(live.powerW),
            live.productionW === null
              ? undefined
              : t("home.livePowerDetail", {
                  production: power(live.productionW),
                  consumption: power(live.consumptionW),
                }),
            "live-power",
          ),
          h(
            "p.note",
            { dataset: { testid: "last-reading" } },
            t("home.lastReadingAt", { time: time(live.ts) }),
          ),
        ]
      : [empty(t("home.noReading"))],
  );
}

export function householdPage(root: HTMLElement, params: Record<string, string>): Cleanup | void {
  const gate = householdGate(params);
  replace(root, h("h1", null, t("home.title")));
  if (!(typeof gate === "string")) {
    root.appendChild(gate);
    return;
  }
  const address = gate;
  const charts: Chart[] = [];
  const stops: (() => void)[] = [];
  const liveBox = h("div.stats");
  const balancesBox = h("div");
  const todayBox = h("div");
  const windowsBox = h("div");
  let shortfallRate = readShortfallRate();
  const shortfallControl = h(
    "label.field",
    null,
    h("span.field-label", null, t("home.shortfallRate")),
    h(
      "select",
      {
        dataset: { testid: "shortfall-rate" },
        onchange: (event: Event) => {
          shortfallRate = shortfallRateFrom((event.target as HTMLSelectElement).value);
          try {
            localStorage.setItem(SHORTFALL_KEY, String(shortfallRate));
          } catch {
            /* private mode: the choice lasts this page only */
          }
          void refreshWindows();
        },
      },
      SHORTFALL_RATES.map((rate) =>
        h("option", { value: String(rate), selected: rate === shortfallRate }, percent(rate)),
      ),
    ),
  );
  const intervalsBox = h("div");
  const fillsBox = h("div");
  const meterBox = meterPanel(address);
  const statements = statementsPanel(address);
  const kpis = kpiPanel(`/api/households/${address}/kpis`);
  stops.push(() => meterBox.stop());
  root.appendChild(catchUpBanner(stops));
  root.appendChild(h("p.note", null, h("code", { dataset: { testid: "household-address" } }, address)));
  root.append(
    h(
      "div.grid-2",
      null,
      card(t("home.livePower"), "live", liveBox),
      card(t("home.balances"), "balances", balancesBox),
    ),
    card(t("meter.title"), "meter", meterBox.element),
    h(
      "div.grid-2",
      null,
      card(t("kpi.title"), "kpis", kpis.element),
      card(t("home.windows"), null, shortfallControl, windowsBox),
    ),
    card(t("home.today"), null, todayBox),
    h(
      "div.grid-2",
      null,
      card(t("home.fills"), "fills", fillsBox),
      card(t("home.intervals"), null, intervalsBox),
    ),
    card(t("statement.title"), "statements", statements.element),
  );
  if (state.user?.address.toLowerCase() === address.toLowerCase())
    root.append(card(t("token.title"), "tokens", tokenPanel(address)));

  let meter = "";
  const refreshDetail = fill(intervalsBox, async () => {
    const detail = await api<Detail>(`/api/households/${address}`);
    meter = detail.meter;
    meterBox.update(detail.meterStatus);
    liveCard(detail, liveBox);
    if (!detail.recentIntervals.length) return empty(t("home.noIntervals"));
    const wh = energyColumn(detail.recentIntervals.flatMap((row) => [row.producedWh, row.consumedWh]));
    const bands = await bandsOf(
      detail.recentIntervals.map((row) => row.intervalId),
      config().intervalSeconds,
    );
    return table(
      [
        t("common.interval"),
        t("common.produced"),
        t("common.consumed"),
        t("common.status"),
        t("common.price"),
      ],
      detail.recentIntervals.map((row, i) => [
        `#${row.intervalId}`,
        wh(row.producedWh),
        wh(row.consumedWh),
        row.settlement
          ? [
              statusText(row.status),
              h("br"),
              h(
                "small",
                null,
                row.settlement.creditedWh
                  ? `${t("home.credited")} ${energy(row.settlement.creditedWh)} `
                  : "",
                row.settlement.burnedWh ? `${t("home.burned")} ${energy(row.settlement.burnedWh)} ` : "",
                row.settlement.gridImportWh
                  ? `${t("home.gridImport")} ${energy(row.settlement.gridImportWh)}`
                  : "",
              ),
            ]
          : statusText(row.status),
        row.clearingPrice
          ? [price(row.clearingPrice), bands[i] ? [h("br"), h("small", null, bandTag(bands[i]))] : null]
          : "—",
      ]),
      "intervals",
    );
  });

  const refreshBalances = fill(balancesBox, async () => {
    const balances = await readBalances(address);
    const euroToken = contract("Euro");
    const faucet =
      config().local &&
      euroToken.abi.some((item) => item.type === "function" && item.name === "faucet") &&
      address === state.wallet
        ? h(
            "button.secondary",
            {
              type: "button",
              dataset: { testid: "faucet" },
              onclick: async () => {
                try {
                  await sendTransaction(t("home.faucet"), {
                    to: euroToken.address,
                    data: encodeFunctionData({ abi: euroToken.abi, functionName: "faucet", args: [address] }),
                  });
                  void refreshBalances();
                } catch {
                  /* shown in the transaction panel */
                }
              },
            },
            t("home.faucet"),
          )
        : null;
    return h(
      "div",
      null,
      h(
        "div.stats",
        null,
        stat(t("home.energyTokens"), energy(balances.energyWh), undefined, "balance-energy"),
        stat(t("home.walletEuro"), euro(balances.walletEuro), undefined, "balance-wallet-euro"),
        stat(t("home.marketEuro"), euro(balances.marketEuro), undefined, "balance-market-euro"),
        stat(t("home.autoSell"), balances.autoSellPrice ? price(balances.autoSellPrice) : t("common.off")),
        stat(t("home.autoBuy"), balances.autoBuyPrice ? price(balances.autoBuyPrice) : t("common.off")),
        stat(t("home.gas"), ether(balances.ethWei)),
      ),
      faucet,
    );
  });

  const refreshFills = fill(fillsBox, async () => {
    const { items } = await api<{ items: Fill[] }>(`/api/households/${address}/fills?limit=20`);
    if (!items.length) return empty(t("home.noFills"));
    const amount = energyColumn(items.map((item) => item.amountWh));
    const value = euroColumn(items.map((item) => item.value));
    return table(
      [t("common.interval"), t("common.side"), t("common.amount"), t("common.value")],
      items.map((item) => [
        `#${item.intervalId}`,
        `${item.side === "bid" ? t("common.bid") : t("common.ask")}${item.auto ? ` (${t("common.auto")})` : ` #${item.orderId}`}`,
        amount(item.amountWh),
        value(item.value),
      ]),
      "fills-table",
    );
  });

  fill(todayBox, async () => {
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    const from = Math.floor(midnight.getTime() / 1000);
    const pastHours = Math.min(168, Math.max(1, Math.ceil((Date.now() / 1000 - from) / 3600)));
    const forecast = await api<ForecastSeries>(
      `/api/households/${address}/forecast?horizon=24&past=${pastHours}`,
    ).catch((error) => {
      if (isMissing(error)) return null;
      throw error;
    });
    const canvas = h("canvas");
    let datasets;
    if (forecast?.issuedAt && forecast.series.length) {
      datasets = forecastDatasets(forecast);
    } else {
      const readings = await api<{
        points: { start: number; producedWh: number | null; consumedWh: number | null }[];
      }>(`/api/households/${address}/readings?from=${from}&resolution=3600`);
      datasets = [
        {
          label: `${t("common.production")} (Wh)`,
          data: readings.points.map((p): Point => ({ x: p.start, y: p.producedWh })),
          borderColor: COLORS.production,
          fill: false,
        },
        {
          label: `${t("common.consumption")} (Wh)`,
          data: readings.points.map((p): Point => ({ x: p.start, y: p.consumedWh })),
          borderColor: COLORS.consumption,
          fill: false,
        },
      ];
    }
    const chartData = datasets;
    requestAnimationFrame(() => charts.push(timeChart(canvas, chartData, "Wh")));
    return h(
      "div",
      null,
      h("div.chart", null, canvas),
      forecast?.issuedAt && forecast.series.length
        ? forecastSource(forecast)
        : h("p.note", null, t("dash.noForecast")),
    );
  });

  const refreshWindows = fill(windowsBox, async () => {
    let answer: Recommendations;
    try {
      answer = await api<Recommendations>(
        `/api/households/${address}/recommendations?horizon=24&alpha=${shortfallRate}`,
      );
    } catch (error) {
      if (isMissing(error)) return empty(t("home.noWindows"));
      throw error;
    }
    if (!answer.advice) return empty(t("home.noWindows"));
    const windows = answer.advice.sellWindows.length + answer.advice.buyWindows.length;
    const note = h(
      "p.note",
      { dataset: { testid: "shortfall-note" } },
      t("home.shortfallNote", { confidence: percent(1 - answer.alpha) }),
    );
    if (!answer.orders.length)
      return windows
        ? [note, empty(t("home.noCautious", { rate: percent(answer.alpha) }))]
        : empty(t("home.noWindows"));
    // The tariff bands each suggested window covers, next to its price (none shown when the week is unavailable).
    const seconds = config().intervalSeconds;
    let weeks: TariffWeek[] = [];
    try {
      weeks = await tariffWeeks(
        Math.min(...answer.orders.map((order) => order.validFrom)) * seconds,
        (Math.max(...answer.orders.map((order) => order.validTo)) + 1) * seconds - 1,
      );
    } catch {
      weeks = [];
    }
    const list = h(
      "ul.plain",
      { dataset: { testid: "windows" } },
      answer.orders.map((order, i) =>
        h(
          "li",
          null,
          suggestionText(order),
          bandsOfIntervals(weeks, order.validFrom, order.validTo, seconds).bands.map((band, j) => [
            " · ",
            bandTag(band, j === 0 ? `suggestion-band-${i}` : undefined),
          ]),
          " ",
          h(
            "button.secondary.small",
            {
              type: "button",
              onclick: () =>
                navigate(
                  `/market?${new URLSearchParams({
                    side: order.side,
                    amountWh: String(order.amountWh),
                    price: String(order.limitPrice),
                    validFrom: String(order.validFrom),
                    validTo: String(order.validTo),
                  })}`,
                ),
            },
            t("home.placeSuggested"),
          ),
        ),
      ),
    );
    return [note, list];
  });

  stops.push(
    onLive("reading", (reading) => {
      if (reading.household.toLowerCase() !== address.toLowerCase()) return;
      replace(
        liveBox,
        stat(
          t("home.livePower"),
          power(reading.powerW),
          t("home.meter", { meter: shortHex(meter || reading.meter) }),
          "live-power",
        ),
        h(
          "p.note",
          { dataset: { testid: "last-reading" } },
          t("home.lastReading", { seq: reading.seq, time: time(reading.ts) }),
        ),
      );
    }),
  );
  stops.push(
    onLive("fill", (payload) => {
      toast(
        () =>
          t("home.newFill", {
            side: payload.side === "bid" ? t("common.bid") : t("common.ask"),
            amount: energy(payload.amountWh),
            price: euro(payload.value),
          }),
        "success",
      );
      void refreshFills();
      void refreshBalances();
    }),
  );
  stops.push(
    onLive("interval_settled", () => {
      void refreshDetail();
      void statements.refresh();
      void kpis.refresh();
      void refreshBalances();
      void refreshFills();
    }),
  );
  const timer = window.setInterval(() => {
    void refreshBalances();
  }, 20_000);
  return () => {
    window.clearInterval(timer);
    stops.forEach((stop) => stop());
    charts.forEach((chart) => chart.destroy());
  };
}
