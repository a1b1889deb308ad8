// Settlements and audit: pick a settled interval; the browser fetches the published archive and the chain's
// events and recomputes signatures, leaves, the root and every proof itself (audit/verify.ts).
import { type Address, getAddress, type Hex } from "viem";
import { api, fetchText } from "../api";
import { contract, publicClient } from "../chain";
import { deployment } from "../config";
import { h, replace } from "../dom";
import { energyColumn, price, shortHex } from "../format";
import { t } from "../i18n";
import { onLive } from "../live";
import { type Cleanup, navigate } from "../router";
import {
  type ArchiveDocument,
  type ArchiveLeaf,
  auditInterval,
  type AuditResult,
  type ChainFacts,
} from "../audit/verify";
import { card, empty, failure, fill, loading, table } from "../ui/parts";

interface IntervalRow {
  intervalId: number;
  status: string;
  clearingPrice: number | null;
  households: number | null;
  readingsRoot: string | null;
}

type Log = { args: Record<string, unknown> };

/** The chain's own word on an interval: its root and each household's settled energy, and meter registrations. */
async function chainFacts(intervalId: number): Promise<ChainFacts> {
  const client = publicClient();
  const market = contract("EnergyMarket");
  const registry = contract("CommunityRegistry");
  const fromBlock = BigInt(deployment().deployBlock);
  const [state, settled, registered, replaced] = await Promise.all([
    client.readContract({ ...market, functionName: "getInterval", args: [BigInt(intervalId)] }) as Promise<{
      readingsRoot: Hex;
      closed: boolean;
    }>,
    client.getContractEvents({
      ...market,
      eventName: "HouseholdSettled",
      args: { intervalId: BigInt(intervalId) },
      fromBlock,
    }),
    client.getContractEvents({ ...registry, eventName: "HouseholdRegistered", fromBlock }),
    client.getContractEvents({ ...registry, eventName: "MeterReplaced", fromBlock }),
  ]);
  const households = new Map<string, { producedWh: bigint; consumedWh: bigint }>();
  for (const log of settled as unknown as Log[]) {
    households.set(String(log.args.household).toLowerCase(), {
      producedWh: log.args.producedWh as bigint,
      consumedWh: log.args.consumedWh as bigint,
    });
  }
  const pairs = new Set<string>();
  for (const log of registered as unknown as Log[])
    pairs.add(`${String(log.args.household)}|${String(log.args.meter)}`.toLowerCase());
  for (const log of replaced as unknown as Log[])
    pairs.add(`${String(log.args.household)}|${String(log.args.newMeter)}`.toLowerCase());
  return {
    readingsRoot: state.closed ? state.readingsRoot : null,
    households,
    meterRegistered: (household: Address, meter: Address) => pairs.has(`${household}|${meter}`.toLowerCase()),
  };
}

function previousLeafFinder(): (intervalId: number, meter: string) => Promise<ArchiveLeaf | null> {
  const cache = new Map<number, ArchiveDocument | null>();
  return async (intervalId, meter) => {
    if (!cache.has(intervalId)) {
      cache.set(
        intervalId,
        await fetchText(`/api/intervals/${intervalId}/archive`)
          .then((text) => JSON.parse(text) as ArchiveDocument)
          .catch(() => null),
      );
    }
    const document = cache.get(intervalId);
    return document?.leaves.find((leaf) => leaf.meter.toLowerCase() === meter.toLowerCase()) ?? null;
  };
}

function resultView(intervalId: number, result: AuditResult, document: ArchiveDocument | null): HTMLElement {
  const mark = (value: boolean | null) =>
    h(
      "span",
      { class: value === null ? "muted" : value ? "ok" : "bad" },
      value === null ? t("audit.unchecked") : value ? `✓ ${t("audit.ok")}` : `✗ ${t("audit.bad")}`,
    );
  const leafWh = energyColumn(result.leaves.flatMap((leaf) => [leaf.producedWh, leaf.consumedWh]));
  return h(
    "div.audit-result",
    { dataset: { testid: "audit-result", ok: String(result.ok) } },
    h(
      "p",
      { class: result.ok ? "verdict ok" : "verdict bad", dataset: { testid: "audit-verdict" } },
      result.ok
        ? t("audit.verified", { id: intervalId })
        : t("audit.failed", { id: intervalId, count: result.differences.length }),
    ),
    result.ok
      ? h(
          "p.note",
          null,
          t("audit.verifiedDetail", {
            leaves: result.leaves.length,
            readings: result.readings,
            root: shortHex(result.root, 10, 8),
          }),
        )
      : null,
    result.differences.length
      ? [
          h("h3", null, t("audit.differences")),
          h(
            "ul.differences",
            { dataset: { testid: "audit-differences" } },
            result.differences.map((difference) => h("li", null, t(difference.key, difference.vars))),
          ),
        ]
      : null,
    document
      ? h(
          "dl.facts",
          null,
          h("dt", null, t("audit.root")),
          h("dd", null, h("code", null, document.readingsRoot)),
          h("dt", null, t("audit.clearingPrice")),
          h("dd", null, document.clearingPrice ? price(document.clearingPrice) : "—"),
          h("dt", null, t("audit.txs")),
          h(
            "dd",
            null,
            (document.settlementTxs ?? []).map((tx) => h("code", { title: tx }, shortHex(tx, 10, 8), " ")),
          ),
        )
      : null,
    result.leaves.length
      ? [
          h("h3", null, t("audit.households")),
          table(
            [
              t("common.household"),
              t("common.produced"),
              t("common.consumed"),
              t("audit.signatures"),
              t("audit.proof"),
              t("audit.chainEvent"),
            ],
            result.leaves.map((leaf) => [
              h("code", { title: leaf.household }, shortHex(leaf.household)),
              leafWh(leaf.producedWh),
              leafWh(leaf.consumedWh),
              mark(leaf.signaturesOk),
              mark(leaf.proofOk),
              mark(leaf.chainOk),
            ]),
            "audit-households",
          ),
        ]
      : null,
  );
}

async function verify(intervalId: number): Promise<HTMLElement> {
  let text: string;
  try {
    text = await fetchText(`/api/intervals/${intervalId}/archive`);
  } catch {
    return empty(t("audit.noArchive", { id: intervalId }));
  }
  const deployed = deployment();
  const domain = {
    chainId: deployed.chainId,
    verifyingContract: getAddress(deployed.contracts.CommunityRegistry.address),
  };
  const facts = await chainFacts(intervalId);
  const result = await auditInterval(text, domain, facts, previousLeafFinder());
  let document: ArchiveDocument | null = null;
  try {
    document = JSON.parse(text) as ArchiveDocument;
  } catch {
    /* reported by the audit */
  }
  return resultView(intervalId, result, document);
}

export function auditPage(root: HTMLElement, params: Record<string, string>): Cleanup {
  const stops: (() => void)[] = [];
  const listBox = h("div");
  const resultBox = h("div", { "aria-live": "polite" });
  const input = h("input", {
    name: "interval",
    inputMode: "numeric",
    value: params.intervalId ?? "",
    dataset: { testid: "audit-interval" },
  });
  const form = h(
    "form.inline-form",
    {
      onsubmit: (event: Event) => {
        event.preventDefault();
        const value = input.value.trim();
        if (/^\d+$/.test(value)) navigate(`/audit/${value}`);
      },
    },
    h("label.field", null, h("span.field-label", null, t("audit.interval")), input),
    h("button", { type: "submit", dataset: { testid: "audit-verify" } }, t("audit.verify")),
  );
  replace(
    root,
    h("h1", null, t("audit.title")),
    h("p.note", null, t("audit.intro")),
    card(t("audit.verify"), "verify", form, resultBox),
    card(t("audit.settled"), "settled", listBox),
  );

  const refreshList = fill(listBox, async () => {
    const { items } = await api<{ items: IntervalRow[] }>("/api/intervals?status=settled&limit=30");
    if (!items.length) return empty(t("audit.noIntervals"));
    return table(
      [t("common.interval"), t("dash.households"), t("audit.clearingPrice"), ""],
      items.map((row) => [
        `#${row.intervalId}`,
        String(row.households ?? "—"),
        row.clearingPrice ? price(row.clearingPrice) : "—",
        h(
          "a",
          { href: `/audit/${row.intervalId}`, dataset: { link: "", testid: `verify-${row.intervalId}` } },
          t("audit.verify"),
        ),
      ]),
      "settled-intervals",
    );
  });
  stops.push(onLive("interval_settled", () => void refreshList()));

  if (params.intervalId && /^\d+$/.test(params.intervalId)) {
    const intervalId = Number(params.intervalId);
    replace(resultBox, h("p.state.loading", null, t("audit.verifying", { id: intervalId })), loading());
    verify(intervalId)
      .then((view) => replace(resultBox, view))
      .catch((error) => replace(resultBox, failure(error)));
  }
  return () => stops.forEach((stop) => stop());
}
