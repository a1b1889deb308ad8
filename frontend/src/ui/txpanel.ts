// Progress of each wallet transaction, in words, in a panel every page shares.
import { h } from "../dom";
import { shortHex } from "../format";
import { onLangChange } from "../i18n";

export type TxState = "checking" | "signing" | "sent" | "confirmed" | "failed";

export interface TxProgress {
  set(state: TxState, text: string, hash?: string): void;
}

function panel(): HTMLElement {
  let element = document.getElementById("tx-panel");
  if (!element) {
    element = h("div#tx-panel.tx-panel", { role: "status", "aria-live": "polite" });
    document.body.appendChild(element);
  }
  return element;
}

export function startTx(initial: string): TxProgress {
  const text = h("span.tx-text", null, initial);
  const link = h("code.tx-hash");
  const close = h(
    "button.tx-close",
    { type: "button", "aria-label": "×", onclick: () => item.remove() },
    "×",
  );
  const item = h("div.tx-item", { dataset: { state: "checking" } }, text, link, close);
  panel().prepend(item);
  return {
    set(state, message, hash) {
      item.dataset.state = state;
      text.textContent = message;
      if (hash) {
        link.textContent = shortHex(hash, 10, 8);
        link.title = hash;
      }
      if (state === "confirmed") setTimeout(() => item.remove(), TOAST_MS.success);
    },
  };
}

/** How long a finished message stays (ms): short, so that it does not hide the cards under it for long. */
export const TOAST_MS = { success: 4_000, info: 4_000, error: 9_000 } as const;

export type ToastKind = "info" | "error" | "success" | "progress";

export interface Toast {
  /** Replace the text and kind in place (a "progress" toast becomes its outcome); the timer restarts. */
  update(message: () => string, kind: Exclude<ToastKind, "progress">): void;
  close(): void;
}

const TOAST_STATES: Record<ToastKind, string> = {
  error: "failed",
  success: "confirmed",
  info: "info",
  progress: "sent",
};

/**
 * A short message that goes away by itself (fills, sign-in, errors outside a form). `message` builds the text from
 * the message catalogues (t, describeError): it runs again when the language changes while the toast is shown.
 * A "progress" toast stays until it is updated to its outcome, so it never reads "in progress" after the work is done.
 */
export function toast(message: () => string, kind: ToastKind = "info"): Toast {
  let build = message;
  let timer: number | undefined;
  const text = h("span.tx-text", null, build());
  const close = () => {
    if (timer !== undefined) window.clearTimeout(timer);
    stopTranslating();
    item.remove();
  };
  const item = h(
    "div.tx-item.toast",
    { dataset: { state: TOAST_STATES[kind] } },
    text,
    h("button.tx-close", { type: "button", "aria-label": "×", onclick: close }, "×"),
  );
  const stopTranslating = onLangChange(() => {
    text.textContent = build();
  });
  const schedule = (next: ToastKind) => {
    if (timer !== undefined) window.clearTimeout(timer);
    timer = next === "progress" ? undefined : window.setTimeout(close, TOAST_MS[next]);
  };
  panel().prepend(item);
  schedule(kind);
  return {
    update(next, nextKind) {
      build = next;
      text.textContent = build();
      item.dataset.state = TOAST_STATES[nextKind];
      schedule(nextKind);
    },
    close,
  };
}
