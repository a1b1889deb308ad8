// Charts with Chart.js (tree-shaken): time on a linear x axis in unix seconds, labelled in local time.
import {
  BarController, BarElement, CategoryScale, Chart, type ChartDataset, Filler, Legend, LinearScale, LineController,
  LineElement, PointElement, Tooltip,
} from "chart.js";
import { locale } from "../i18n";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, BarController, BarElement,
  Filler, Legend, Tooltip);

export const COLORS = {
  production: "#e0a100",
  consumption: "#3867d6",
  surplus: "#20a36b",
  deficit: "#d64545",
  band: "rgba(56, 103, 214, 0.18)",
  bandSolar: "rgba(224, 161, 0, 0.2)",
  price: "#7b4fd6",
};

function timeLabel(value: number, spanS: number): string {
  const date = new Date(value * 1000);
  if (spanS > 2 * 86400) return date.toLocaleDateString(locale(), { weekday: "short", day: "numeric" });
  return date.toLocaleTimeString(locale(), spanS < 600
    ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" });
}

export type Point = { x: number; y: number | null };

export function timeChart(canvas: HTMLCanvasElement, datasets: ChartDataset<"line", Point[]>[], unit: string): Chart<"line", Point[]> {
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
          ticks: {
            maxTicksLimit: 7,
            callback(value) {
              const scale = this as unknown as { min: number; max: number };
              return timeLabel(Number(value), scale.max - scale.min);
            },
          },
        },
        y: { beginAtZero: true, ticks: { callback: (value) => `${Number(value).toLocaleString(locale())} ${unit}` } },
      },
      plugins: {
        legend: { labels: { boxWidth: 12, filter: (item) => !String(item.text).startsWith("_") } },
        tooltip: {
          callbacks: {
            title: (items) => items.length ? new Date((items[0].parsed.x ?? 0) * 1000).toLocaleString(locale()) : "",
          },
        },
      },
    },
  });
}

/** A P10–P90 band (filled between two hidden lines), the P50 line and, where known, the real values. */
export function bandDatasets(label: string, color: string, band: string, hours: number[], p10: number[], p50: number[],
  p90: number[], actual?: Point[]): ChartDataset<"line", Point[]>[] {
  const points = (values: number[]) => hours.map((x, i) => ({ x, y: values[i] }));
  const sets: ChartDataset<"line", Point[]>[] = [
    { label: `_${label} P10`, data: points(p10), borderWidth: 0, pointRadius: 0, fill: false },
    { label: `${label} P10–P90`, data: points(p90), borderWidth: 0, pointRadius: 0, backgroundColor: band, fill: "-1" },
    { label: `${label} P50`, data: points(p50), borderColor: color, borderDash: [6, 4], fill: false },
  ];
  if (actual?.length) sets.push({ label: `${label} ✓`, data: actual, borderColor: color, fill: false });
  return sets;
}

export function barChart(canvas: HTMLCanvasElement, labels: string[], values: (number | null)[], label: string, color: string,
  format: (value: number) => string): Chart<"bar"> {
  return new Chart<"bar">(canvas, {
    type: "bar",
    data: { labels, datasets: [{ label, data: values, backgroundColor: color }] },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, ticks: { callback: (value) => format(Number(value)) } } },
      plugins: { legend: { display: false } },
    },
  });
}
