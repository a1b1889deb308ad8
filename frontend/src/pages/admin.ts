// Admin: register households and meters, set the tariffs (the server returns the unsigned transaction,
// the admin's wallet sends it), oracle and chain health, and the oracle's rejections, live.
import { type Address, type Hex, isAddress } from "viem";
import { api } from "../api";
import { h, replace } from "../dom";
import { dateTime, parseEuro, power, shortHex } from "../format";
import { hasMessage, t } from "../i18n";
import { onLive } from "../live";
import type { Cleanup } from "../router";
import { state } from "../store";
import { card, empty, field, fill, formMessage, stat, table } from "../ui/parts";
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
  const retail = h("input", { name: "retail", inputMode: "decimal", placeholder: "0,200" });
  const feedIn = h("input", { name: "feedIn", inputMode: "decimal", placeholder: "0,050" });
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
    if (timer !== undefined) window.clearTimeout(timer);
  };
}
