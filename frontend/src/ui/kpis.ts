// The KPIs of docs/kpis.md (GET /api/households/<a>/kpis, GET /api/community/kpis) as a card: self-sufficiency,
// self-consumption, community and grid energy, the peak, CO₂ avoided, and the bill with the community against
// without it. They replace the old "savings" figure, which used today's flat tariff and counted trades only.
import { api } from "../api";
import { h, replace } from "../dom";
import { energy, euro, parseEuro } from "../format";
import { locale, t } from "../i18n";
import { describeError } from "../wallet/errors";
import { empty, stat } from "./parts";

/** Energy in Wh; shares 0..1 or null; kW, kg and EUR as decimal strings. */
export interface Kpis {
  selfSufficiency: number | null;
  selfConsumption: number | null;
  consumedWh: number;
  producedWh: number;
  boughtWh: number;
  soldWh: number;
  gridImportWh: number;
  gridExportWh: number;
  peakImportKw: string;
  co2AvoidedKg: string;
  billWithEur: string | null;
  billWithoutEur: string | null;
  savingEur: string | null;
}

export interface KpiAnswer {
  period?: "month" | "day";
  date?: string;
  final?: boolean;
  intervals?: number;
  households?: number;
  kpis: Kpis | null;
  note?: string;
}

export interface Figure {
  label: string;
  value: string;
  detail?: string;
  testid: string;
}

function share(value: number | null): string {
  if (value === null) return "—";
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(value);
}

/** "-0.05" EUR as the page's euro format; a text that is not a decimal is shown as it is. */
function eur(text: string | null): string {
  if (text === null) return "—";
  const negative = text.startsWith("-");
  const base = parseEuro(negative ? text.slice(1) : text);
  if (base === null) return text;
  return euro(negative ? -base : base);
}

function decimal(text: string, unit: string): string {
  const value = Number(text);
  if (!Number.isFinite(value)) return `${text} ${unit}`;
  return `${new Intl.NumberFormat(locale(), { maximumFractionDigits: 3 }).format(value)} ${unit}`;
}

/** The figures of one answer, in the order the card shows them; none when there is nothing billed yet. */
export function kpiFigures(kpis: Kpis | null): Figure[] {
  if (!kpis) return [];
  return [
    {
      label: t("kpi.saving"),
      value: eur(kpis.savingEur),
      detail: t("kpi.savingDetail", { with: eur(kpis.billWithEur), without: eur(kpis.billWithoutEur) }),
      testid: "kpi-saving",
    },
    {
      label: t("kpi.selfSufficiency"),
      value: share(kpis.selfSufficiency),
      detail: t("kpi.consumed", { energy: energy(kpis.consumedWh) }),
      testid: "kpi-self-sufficiency",
    },
    {
      label: t("kpi.selfConsumption"),
      value: share(kpis.selfConsumption),
      detail: t("kpi.produced", { energy: energy(kpis.producedWh) }),
      testid: "kpi-self-consumption",
    },
    {
      label: t("kpi.community"),
      value: energy(kpis.boughtWh),
      detail: t("kpi.communityDetail", { bought: energy(kpis.boughtWh), sold: energy(kpis.soldWh) }),
      testid: "kpi-community",
    },
    {
      label: t("kpi.grid"),
      value: energy(kpis.gridImportWh),
      detail: t("kpi.gridDetail", {
        imported: energy(kpis.gridImportWh),
        exported: energy(kpis.gridExportWh),
      }),
      testid: "kpi-grid",
    },
    { label: t("kpi.peak"), value: decimal(kpis.peakImportKw, "kW"), testid: "kpi-peak" },
    { label: t("kpi.co2"), value: decimal(kpis.co2AvoidedKg, "kg CO₂"), testid: "kpi-co2" },
  ];
}

/** The KPIs card's body for `url` (this month so far); reloads with `refresh` (after a settlement). */
export function kpiPanel(url: string): { element: HTMLElement; refresh: () => Promise<void> } {
  const element = h("div", { dataset: { testid: "kpis" } });
  const refresh = async () => {
    try {
      const answer = await api<KpiAnswer>(url);
      const figures = kpiFigures(answer.kpis);
      replace(
        element,
        figures.length
          ? [
              h(
                "div.stats",
                null,
                figures.map((figure) => stat(figure.label, figure.value, figure.detail, figure.testid)),
              ),
              h(
                "p.note",
                null,
                t("kpi.note", { period: answer.date ?? "", intervals: answer.intervals ?? 0 }),
              ),
            ]
          : empty(answer.note ? t("kpi.noSchedule") : t("kpi.none")),
      );
    } catch (error) {
      replace(element, empty(describeError(error)));
    }
  };
  void refresh();
  return { element, refresh };
}
