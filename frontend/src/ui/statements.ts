// The household's monthly statements (docs/tariffs.md): each month billed by a tariff schedule with its total, the
// total without the community and the saving, and links that download the PDF (in the page's language) and CSV.
import { api } from "../api";
import { h, replace } from "../dom";
import { euro, parseEuro } from "../format";
import { lang, locale, t } from "../i18n";
import { describeError } from "../wallet/errors";
import { empty, table } from "./parts";

/** GET /api/households/<a>/statements: amounts are EUR as decimal strings ("12.34"). */
export interface StatementMonth {
  month: string;
  final: boolean;
  intervals: number;
  totalEur: string;
  withoutCommunityEur: string;
  savingEur: string;
  pdf: string;
  csv: string;
}

/** "2026-02" as the page's language names it ("febrero de 2026"). */
export function monthName(month: string): string {
  const [year, number] = month.split("-").map(Number);
  return new Intl.DateTimeFormat(locale(), { month: "long", year: "numeric", timeZone: "UTC" }).format(
    new Date(Date.UTC(year, number - 1, 1)),
  );
}

function eur(text: string): string {
  const base = parseEuro(text);
  return base === null ? text : euro(base);
}

/** The statements card's body for `household`; reloads with `refresh` (after a settlement). */
export function statementsPanel(household: string): { element: HTMLElement; refresh: () => Promise<void> } {
  const element = h("div", { dataset: { testid: "statements" } });
  const refresh = async () => {
    try {
      const { items } = await api<{ items: StatementMonth[] }>(`/api/households/${household}/statements`);
      replace(
        element,
        items.length
          ? table(
              [t("statement.month"), t("statement.total"), t("statement.without"), t("statement.saving"), ""],
              items.map((item) => [
                [monthName(item.month), item.final ? "" : h("small", null, ` (${t("statement.soFar")})`)],
                h("span", { dataset: { testid: `statement-total-${item.month}` } }, eur(item.totalEur)),
                eur(item.withoutCommunityEur),
                eur(item.savingEur),
                [
                  h(
                    "a",
                    {
                      href: `${item.pdf}?lang=${lang()}`,
                      download: "",
                      dataset: { testid: `statement-pdf-${item.month}` },
                    },
                    "PDF",
                  ),
                  " ",
                  h(
                    "a",
                    { href: item.csv, download: "", dataset: { testid: `statement-csv-${item.month}` } },
                    "CSV",
                  ),
                ],
              ]),
              "statements-table",
            )
          : empty(t("statement.none")),
      );
    } catch (error) {
      replace(element, empty(describeError(error)));
    }
  };
  void refresh();
  return { element, refresh };
}
