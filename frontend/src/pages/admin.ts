// Admin: register households and meters, set the tariffs (the server returns the unsigned transaction,
// the admin's wallet sends it), oracle and chain health, and the oracle's rejections, live.
import type { Chart } from "chart.js";
import { type Address, type Hex, isAddress, parseEventLogs } from "viem";
import { api, ApiError } from "../api";
import { contract } from "../chain";
import { h, replace } from "../dom";
import { dateTime, decimalHint, parseEuro, power, PRICE_DECIMALS, shortHex } from "../format";
import { hasMessage, t } from "../i18n";
import { onLive } from "../live";
import type { Cleanup } from "../router";
import { state } from "../store";
import { card, empty, field, fill, formMessage, stat, table } from "../ui/parts";
import { bandsTable, type TariffWeek, tariffWeekChart } from "../ui/tariffWeek";
import { describeError } from "../wallet/errors";
import { sendTransaction } from "../wallet/wallet";
import { bridgeSetup } from "./bridgeSetup";

interface Health {
  database: { ok: boolean; error?: string };
  chain: { ok: boolean; chainId?: number; block?: number; error?: string };
  live: { messageQueue: string };
}
interface Rejection {
  id: number;
  receivedAt: number;
  topic: string;
  meter: string | null;
  reason: string;
  detail: string | null;
}
interface Household {
  address: string;
  meter: string;
  capacityW: number;
  active: boolean;
  hasReading?: boolean;
}
interface UnsignedAnswer {
  transaction: { to: Address; data: Hex; value: string };
}

async function sendFromAdmin(
  label: string,
  path: string,
  body: unknown,
  message: ReturnType<typeof formMessage>,
): Promise<boolean> {
  try {
    const answer = await api<UnsignedAnswer>(path, { body });
    await sendTransaction(label, answer.transaction);
    message.show(label + " ✓", "success");
    return true;
  } catch (error) {
    message.show(describeError(error));
    return false;
  }
}

function registerForm(onDone: () => void): HTMLElement {
  const message = formMessage();
  const wallet = h("input", {
    name: "wallet",
    placeholder: "0x…",
    autocomplete: "off",
    dataset: { testid: "admin-wallet" },
  });
  const meter = h("input", {
    name: "meter",
    placeholder: "0x…",
    autocomplete: "off",
    dataset: { testid: "admin-meter" },
  });
  const capacity = h("input", {
    name: "capacity",
    inputMode: "numeric",
    value: "5000",
    dataset: { testid: "admin-capacity" },
  });
  const submit = h(
    "button",
    { type: "submit", dataset: { testid: "admin-register" } },
    t("admin.registerTx"),
  );
  return h(
    "form",
    {
      novalidate: true,
      onsubmit: async (event: Event) => {
        event.preventDefault();
        message.clear();
        if (!isAddress(wallet.value.trim()) || !isAddress(meter.value.trim()))
          return message.show(t("admin.invalidAddress"));
        if (!/^\d+$/.test(capacity.value.trim()) || Number(capacity.value) <= 0)
          return message.show(t("admin.invalidCapacity"));
        submit.disabled = true;
        if (
          await sendFromAdmin(
            t("admin.registerTx"),
            "/api/admin/households",
            { wallet: wallet.value.trim(), meter: meter.value.trim(), capacityW: Number(capacity.value) },
            message,
          )
        ) {
          wallet.value = meter.value = "";
          onDone();
        }
        submit.disabled = false;
      },
    },
    field(t("admin.wallet"), wallet),
    field(t("admin.meter"), meter),
    field(t("admin.capacity"), capacity),
    message.element,
    submit,
    bridgeSetup(meter),
  );
}

function tariffsForm(): HTMLElement {
  const message = formMessage();
  const retail = h("input", {
    name: "retail",
    inputMode: "decimal",
    placeholder: decimalHint(0.2, PRICE_DECIMALS),
  });
  const feedIn = h("input", {
    name: "feedIn",
    inputMode: "decimal",
    placeholder: decimalHint(0.05, PRICE_DECIMALS),
  });
  const submit = h("button", { type: "submit" }, t("admin.tariffsTx"));
  return h(
    "form",
    {
      novalidate: true,
      onsubmit: async (event: Event) => {
        event.preventDefault();
        message.clear();
        const retailPrice = parseEuro(retail.value);
        const feedInPrice = parseEuro(feedIn.value);
        if (retailPrice === null || feedInPrice === null || retailPrice <= 0n || feedInPrice <= 0n)
          return message.show(t("market.invalid.price"));
        submit.disabled = true;
        await sendFromAdmin(
          t("admin.tariffsTx"),
          "/api/admin/tariffs",
          { retailPrice: Number(retailPrice), feedInPrice: Number(feedInPrice) },
          message,
        );
        submit.disabled = false;
      },
    },
    field(t("admin.retail"), retail),
    field(t("admin.feedIn"), feedIn),
    message.element,
    submit,
  );
}

interface ScheduleAnswer {
  schedule: { name: string; version: number; timeZone: string; validFrom: string; hash: string };
  version: number;
  effectiveFrom: number;
  effectiveFromTime: number;
  calendar: { firstDay: number; lastDay: number; days: number } | null;
  transactions: {
    function: "addTariffVersion" | "setBandCalendar";
    days?: number;
    transaction: { to: Address; data: Hex; value: string };
  }[];
  week: TariffWeek;
}

/** The version number a receipt's TariffVersionAdded event carries (null when it has none). */
function addedVersion(logs: Parameters<typeof parseEventLogs>[0]["logs"]): number | null {
  const registry = contract("CommunityRegistry");
  const events = parseEventLogs({ abi: registry.abi, logs, eventName: "TariffVersionAdded" });
  const args = events[0]?.args as { version?: number | bigint } | undefined;
  return args?.version === undefined ? null : Number(args.version);
}

/** A week's chart and its bands' table; the chart is kept in `charts` for the page to destroy. */
function weekView(week: TariffWeek, testId: string, charts: Chart[]): HTMLElement {
  const canvas = h("canvas", { "aria-label": t("tariff.chart") });
  requestAnimationFrame(() => {
    if (!canvas.isConnected) return;
    // Charts of views replaced since (a new upload, a refresh) are let go here.
    const kept = charts.splice(0).filter((chart) => chart.canvas.isConnected || (chart.destroy(), false));
    charts.push(...kept, tariffWeekChart(canvas, week));
  });
  return h(
    "div",
    { dataset: { testid: testId } },
    h("div.chart", null, canvas),
    bandsTable(week, `${testId}-bands`),
  );
}

/** Upload a schedule file: the server checks it as `vatio tariff add` does and answers every problem, or the
 * transactions and the first week, drawn here; the admin's wallet then sends them in order. */
function scheduleForm(charts: Chart[], onRegistered: () => void): HTMLElement {
  const message = formMessage("schedule-message");
  const problems = h("div", { dataset: { testid: "schedule-problems" } });
  const preview = h("div");
  const file = h("input", {
    type: "file",
    accept: ".toml,text/plain",
    dataset: { testid: "schedule-file" },
  });
  const submit = h(
    "button",
    { type: "submit", disabled: true, dataset: { testid: "schedule-send" } },
    t("admin.scheduleSend"),
  );
  let answer: ScheduleAnswer | null = null;

  const check = async () => {
    message.clear();
    replace(problems);
    replace(preview);
    answer = null;
    submit.disabled = true;
    const chosen = file.files?.[0];
    if (!chosen) return;
    try {
      answer = await api<ScheduleAnswer>("/api/admin/tariff-schedules", {
        body: { schedule: await chosen.text() },
      });
    } catch (error) {
      const found = error instanceof ApiError ? error.details?.problems : undefined;
      if (Array.isArray(found) && found.length) {
        replace(
          problems,
          h("p.problems", null, t("admin.scheduleRefused", { count: found.length })),
          h(
            "ul.problems",
            null,
            found.map((problem) => h("li", { lang: "en" }, String(problem))),
          ),
        );
      } else message.show(describeError(error));
      return;
    }
    const { schedule, calendar } = answer;
    replace(
      preview,
      h(
        "p.note",
        { dataset: { testid: "schedule-summary" } },
        t("admin.scheduleSummary", {
          name: schedule.name,
          version: answer.version,
          start: dateTime(answer.effectiveFromTime),
          count: answer.transactions.length,
        }),
        calendar ? ` ${t("admin.scheduleCalendar", { days: calendar.days })}` : "",
        h("br"),
        h("code", { title: schedule.hash }, shortHex(schedule.hash, 10, 8)),
      ),
      weekView(answer.week, "schedule-preview", charts),
    );
    submit.disabled = false;
  };

  const send = async () => {
    if (!answer) return;
    const { transactions, version, effectiveFromTime } = answer;
    submit.disabled = true;
    file.disabled = true;
    message.clear();
    try {
      for (const step of transactions) {
        const label =
          step.function === "addTariffVersion"
            ? t("admin.scheduleTx", { version })
            : t("admin.calendarTx", { days: step.days ?? 0 });
        const receipt = await sendTransaction(label, step.transaction);
        if (step.function === "addTariffVersion") {
          // The calendar transactions name the version the server expected: another one added in between would
          // have taken that number, so nothing more is sent then.
          const got = addedVersion(receipt.logs);
          if (got !== version) {
            message.show(t("admin.scheduleRace", { got: got ?? "?", expected: version }));
            return;
          }
        }
      }
      message.show(t("admin.scheduleDone", { version, start: dateTime(effectiveFromTime) }), "success");
      answer = null;
      onRegistered();
    } catch (error) {
      message.show(describeError(error));
      submit.disabled = answer === null;
    } finally {
      file.disabled = false;
    }
  };

  file.addEventListener("change", () => void check());
  return h(
    "form",
    {
      novalidate: true,
      onsubmit: (event: Event) => {
        event.preventDefault();
        void send();
      },
    },
    field(t("admin.scheduleFile"), file, t("admin.scheduleHint")),
    problems,
    preview,
    message.element,
    submit,
  );
}

/** The oracle's stable reason code in words of the page's language (the code itself when it is a new one). */
export function reasonText(reason: string): string {
  const key = `reason.${reason}`;
  return hasMessage(key) ? t(key) : reason;
}

function rejectionsTable(items: Rejection[], counts: Record<string, number>): HTMLElement {
  if (!items.length) return empty(t("admin.noRejections"));
  return h(
    "div",
    null,
    h(
      "p.note",
      null,
      Object.entries(counts)
        .map(([reason, count]) => `${reasonText(reason)}: ${count}`)
        .join(" · "),
    ),
    table(
      [t("common.time"), t("admin.reason"), t("common.meter"), t("admin.detail")],
      items.map((row) => [
        dateTime(row.receivedAt),
        h("span", { title: row.reason }, reasonText(row.reason)),
        row.meter ? shortHex(row.meter) : "—",
        h("small", { lang: "en" }, (row.detail ?? "").slice(0, 120)),
      ]),
      "rejections",
    ),
  );
}

export function adminPage(root: HTMLElement): Cleanup | void {
  replace(root, h("h1", null, t("admin.title")));
  if (!state.user) {
    root.appendChild(h("p.state.empty", { dataset: { testid: "need-sign-in" } }, t("wallet.needConnect")));
    return;
  }
  if (!state.user.admin) {
    root.appendChild(h("p.state.empty", { dataset: { testid: "not-admin" } }, t("wallet.needAdmin")));
    return;
  }
  const charts: Chart[] = [];
  const weekBox = h("div");
  const refreshWeek = fill(weekBox, async () => {
    const week = await api<TariffWeek>("/api/tariffs/week");
    return weekView(week, "tariff-week", charts);
  });
  const healthBox = h("div");
  const rejectionsBox = h("div");
  const householdsBox = h("div");
  const refreshHouseholds = () =>
    fill(householdsBox, async () => {
      const { items } = await api<{ items: Household[] }>("/api/households?limit=500");
      if (!items.length) return empty(t("common.empty"));
      return table(
        [
          t("common.household"),
          t("common.meter"),
          t("admin.capacityW"),
          t("admin.active"),
          t("admin.readings"),
        ],
        items.map((row) => [
          h("code", { title: row.address }, shortHex(row.address)),
          h("code", { title: row.meter }, shortHex(row.meter)),
          power(row.capacityW),
          row.active ? t("common.yes") : t("common.no"),
          row.hasReading === false
            ? h("span.muted", { dataset: { testid: "no-reading" } }, t("admin.noReadingYet"))
            : "✓",
        ]),
        "households",
      );
    });
  root.append(
    h(
      "div.grid-2",
      null,
      card(
        t("admin.register"),
        "register",
        registerForm(() => refreshHouseholds()),
      ),
      card(t("admin.tariffs"), "tariffs", tariffsForm()),
    ),
    h(
      "div.grid-2",
      null,
      card(
        t("admin.schedule"),
        "schedule",
        scheduleForm(charts, () => void refreshWeek()),
      ),
      card(t("admin.weekInForce"), "tariff-week", weekBox),
    ),
    h(
      "div.grid-2",
      null,
      card(t("admin.health"), "health", healthBox),
      card(t("admin.householdsList"), "households", householdsBox),
    ),
    card(t("admin.rejections"), "rejections", rejectionsBox),
  );
  fill(healthBox, async () => {
    const response = await fetch("/api/health", { credentials: "same-origin" });
    const health = (await response.json()) as Health;
    return h(
      "div.stats",
      null,
      stat(
        t("admin.database"),
        health.database.ok ? `✓ ${t("audit.ok")}` : `✗ ${health.database.error ?? ""}`,
      ),
      stat(
        t("admin.chain"),
        health.chain.ok
          ? `✓ ${t("admin.block", { block: health.chain.block ?? "?" })}`
          : `✗ ${health.chain.error ?? ""}`,
        `chain ${health.chain.chainId ?? "?"}`,
      ),
      stat(t("admin.queueLabel"), health.live.messageQueue),
    );
  });
  const refreshRejections = fill(rejectionsBox, async () => {
    const answer = await api<{ items: Rejection[]; counts: Record<string, number> }>(
      "/api/admin/rejections?limit=20",
    );
    return rejectionsTable(answer.items, answer.counts);
  });
  refreshHouseholds();
  let timer: number | undefined;
  const stop = onLive("rejection", () => {
    if (timer === undefined)
      timer = window.setTimeout(() => {
        timer = undefined;
        void refreshRejections();
      }, 1000);
  });
  return () => {
    stop();
    for (const chart of charts) chart.destroy();
    if (timer !== undefined) window.clearTimeout(timer);
  };
}
