// Charts with Chart.js (tree-shaken): time on a linear x axis in unix seconds, labelled in local time.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartDataset,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";
import { locale } from "../i18n";

Chart.register(
  LineController,
  LineElement,
  PointElement,
  LinearScale,
  CategoryScale,
  BarController,
  BarElement,
  Filler,
  Legend,
  Tooltip,
);

export const COLORS = {
  production: "#e0a100",
  consumption: "#3867d6",
  surplus: "#20a36b",
  deficit: "#d64545",
  band: "rgba(56, 103, 214, 0.18)",
  bandSolar: "rgba(224, 161, 0, 0.2)",
  price: "#7b4fd6",
};

const DAY_S = 86400;
// Tick steps on the time axis, in seconds: whole minutes, hours and days.
const TICK_STEPS_S = [
  10,
  30,
  60,
  300,
  600,
  900,
  1800,
  3600,
  2 * 3600,
  3 * 3600,
  4 * 3600,
  6 * 3600,
  12 * 3600,
  DAY_S,
  2 * DAY_S,
  7 * DAY_S,
  14 * DAY_S,
  28 * DAY_S,
];

/** Ticks at whole local minutes, hours or days between `min` and `max` (unix s), at most `maxTicks` of them:
 * Chart.js' own linear ticks fall at round numbers of seconds, which are no round times. */
export function timeTicks(min: number, max: number, maxTicks = 7): number[] {
  const span = Math.max(0, max - min);
  const step =
    TICK_STEPS_S.find((s) => Math.floor(span / s) + 1 <= maxTicks) ?? TICK_STEPS_S[TICK_STEPS_S.length - 1];
  const offset = -new Date(min * 1000).getTimezoneOffset() * 60; // local midnight, not UTC's
  const ticks: number[] = [];
  for (let t = Math.ceil((min + offset) / step) * step - offset; t <= max; t += step) ticks.push(t);
  return ticks;
}

/** Labels of time ticks, never two alike: days alone for a step of a day or more, the day and the time
 * when the ticks span a day or more, the time alone within a day (with seconds under a minute's step). */
export function timeTickLabels(ticks: number[]): string[] {
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : DAY_S;
  const span = ticks.length > 1 ? ticks[ticks.length - 1] - ticks[0] : 0;
  return ticks.map((value) => {
    const date = new Date(value * 1000);
    const day = date.toLocaleDateString(locale(), { weekday: "short", day: "numeric" });
    if (step >= DAY_S) return day;
    const time = date.toLocaleTimeString(
      locale(),
      step < 60
        ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
        : { hour: "2-digit", minute: "2-digit" },
    );
    return span >= DAY_S ? `${day} ${time}` : time;
  });
}

export type Point = { x: number; y: number | null };

export function timeChart(
  canvas: HTMLCanvasElement,
  datasets: ChartDataset<"line", Point[]>[],
  unit: string,
): Chart<"line", Point[]> {
  return new Chart<"line", Point[]>(canvas, {
    type: "line",
    data: { datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      spanGaps: true,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      elements: { point: { radius: 0 }, line: { borderWidth: 2, tension: 0.2 } },
      scales: {
        x: {
          type: "linear",
          afterBuildTicks(axis) {
            axis.ticks = timeTicks(axis.min, axis.max).map((value) => ({ value }));
          },
          ticks: {
            autoSkip: false,
            callback(_value, index, ticks) {
              return timeTickLabels(ticks.map((tick) => tick.value))[index];
            },
          },
        },
        y: {
          beginAtZero: true,
          ticks: { callback: (value) => `${Number(value).toLocaleString(locale())} ${unit}` },
        },
      },
      plugins: {
        legend: { labels: { boxWidth: 12, filter: (item) => !String(item.text).startsWith("_") } },
        tooltip: {
          callbacks: {
            title: (items) =>
              items.length ? new Date((items[0].parsed.x ?? 0) * 1000).toLocaleString(locale()) : "",
          },
        },
      },
    },
  });
}

/** A P10–P90 band (filled between two hidden lines), the P50 line and, where known, the real values. */
export function bandDatasets(
  label: string,
  color: string,
  band: string,
  hours: number[],
  p10: number[],
  p50: number[],
  p90: number[],
  actual?: Point[],
): ChartDataset<"line", Point[]>[] {
  const points = (values: number[]) => hours.map((x, i) => ({ x, y: values[i] }));
  const sets: ChartDataset<"line", Point[]>[] = [
    { label: `_${label} P10`, data: points(p10), borderWidth: 0, pointRadius: 0, fill: false },
    {
      label: `${label} P10–P90`,
      data: points(p90),
      borderWidth: 0,
      pointRadius: 0,
      backgroundColor: band,
      fill: "-1",
    },
    { label: `${label} P50`, data: points(p50), borderColor: color, borderDash: [6, 4], fill: false },
  ];
  if (actual?.length) sets.push({ label: `${label} ✓`, data: actual, borderColor: color, fill: false });
  return sets;
}

/** Bars of `values`; `color` is one colour or one per bar, and `notes` (one per bar) a line under its tooltip. */
export function barChart(
  canvas: HTMLCanvasElement,
  labels: string[],
  values: (number | null)[],
  label: string,
  color: string | string[],
  format: (value: number) => string,
  notes?: (string | null)[],
): Chart<"bar"> {
  return new Chart<"bar">(canvas, {
    type: "bar",
    data: { labels, datasets: [{ label, data: values, backgroundColor: color }] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, ticks: { callback: (value) => format(Number(value)) } } },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { afterLabel: (item) => notes?.[item.dataIndex] ?? "" } },
      },
    },
  });
}
