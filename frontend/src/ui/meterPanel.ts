// The household's meter: where its readings come from (a bridge's source, the demo's simulator, or unknown),
// how old the last reading is, and what the bridge reports as problems (GET /api/households/<a> `meterStatus`,
// then the live `reading` and `bridge_status` events).
import { h, replace } from "../dom";
import { dateTime } from "../format";
import { hasMessage, t } from "../i18n";
import { onLive } from "../live";
import { stat } from "./parts";

/** What a bridge last reported (docs/api.md, `meterStatus.bridge`, and the `bridge_status` event's `bridge`). */
export interface BridgeReport {
  problems: Record<string, number>;
  halted: string | null;
  brokerError: string | null;
  queueDepth: number;
  statusTs: number;
}
/** GET /api/households/<a> `meterStatus`. */
export interface MeterStatus {
  source: string | null;
  lastReadingTs: number | null;
  lastReadingAgeS: number | null;
  bridge: BridgeReport | null;
}

/** A source's name in words ("P1 (DSMR)"), the code itself for a source this page does not know. */
export function sourceText(source: string | null): string {
  if (source === null) return t("meter.sourceUnknown");
  const key = `meter.source.${source}`;
  return hasMessage(key) ? t(key) : source;
}

/** A bridge's problem reason in words (docs/meters.md lists them), the code itself when it is a new one. */
export function problemText(reason: string): string {
  const key = `bridge.problem.${reason}`;
  return hasMessage(key) ? t(key) : reason;
}

/** "12 s", "5 min", "3 h", "2 d". */
export function ageText(seconds: number): string {
  if (seconds < 120) return t("meter.ageSeconds", { n: Math.max(0, Math.round(seconds)) });
  if (seconds < 7200) return t("meter.ageMinutes", { n: Math.round(seconds / 60) });
  if (seconds < 172_800) return t("meter.ageHours", { n: Math.round(seconds / 3600) });
  return t("meter.ageDays", { n: Math.round(seconds / 86_400) });
}

function problemsList(bridge: BridgeReport | null): HTMLElement {
  if (!bridge) return h("p.note", { dataset: { testid: "meter-problems" } }, t("meter.noBridgeStatus"));
  const entries = Object.entries(bridge.problems).filter(([, count]) => count > 0);
  const lines: HTMLElement[] = [];
  if (bridge.halted)
    lines.push(
      h("li.error", { dataset: { testid: "meter-halted" } }, t("meter.halted", { why: bridge.halted })),
    );
  for (const [reason, count] of entries) {
    lines.push(h("li", { title: reason }, t("meter.problemCount", { problem: problemText(reason), count })));
  }
  if (bridge.brokerError) lines.push(h("li", null, t("meter.brokerError", { error: bridge.brokerError })));
  if (bridge.queueDepth > 0) lines.push(h("li", null, t("meter.queued", { count: bridge.queueDepth })));
  return h(
    "div",
    { dataset: { testid: "meter-problems" } },
    lines.length ? h("ul.plain", null, lines) : h("p.note", null, t("meter.noProblems")),
    h("p.note", null, t("meter.statusAt", { time: dateTime(bridge.statusTs) })),
  );
}

/**
 * The meter card's body for one household: `update` takes the detail's `meterStatus`; live readings and
 * bridge statuses of that household keep it current, and the age ticks. Push the returned stop into the
 * page's cleanups.
 */
export function meterPanel(household: string): {
  element: HTMLElement;
  update(status: MeterStatus): void;
  stop(): void;
} {
  const element = h("div", { dataset: { testid: "meter-panel" } });
  let current: MeterStatus | null = null;
  let lastReadingTs: number | null = null;
  const mine = (address: string) => address.toLowerCase() === household.toLowerCase();
  const render = () => {
    if (!current) return;
    const age = lastReadingTs === null ? null : Date.now() / 1000 - lastReadingTs;
    replace(
      element,
      h(
        "div.stats",
        null,
        stat(t("meter.source"), sourceText(current.source), undefined, "meter-source"),
        stat(
          t("meter.lastReading"),
          age === null ? t("meter.noReading") : ageText(age),
          lastReadingTs === null ? undefined : dateTime(lastReadingTs),
          "meter-age",
        ),
      ),
      problemsList(current.bridge),
    );
  };
  const update = (status: MeterStatus) => {
    current = status;
    lastReadingTs = status.lastReadingTs;
    render();
  };
  const stops = [
    onLive("reading", (reading) => {
      if (!mine(reading.household) || !current) return;
      lastReadingTs = Math.max(lastReadingTs ?? 0, reading.ts);
      render();
    }),
    onLive("bridge_status", (payload) => {
      if (!mine(payload.household)) return;
      current = {
        ...(current ?? { lastReadingTs, lastReadingAgeS: null }),
        source: payload.source,
        bridge: payload.bridge,
      };
      render();
    }),
  ];
  const timer = window.setInterval(render, 5000);
  return {
    element,
    update,
    stop: () => {
      window.clearInterval(timer);
      stops.forEach((stop) => stop());
    },
  };
}
