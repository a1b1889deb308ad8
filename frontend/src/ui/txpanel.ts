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
  const close = h("button.tx-close", { type: "button", "aria-label": "×", onclick: () => item.remove() }, "×");
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
      if (state === "confirmed") setTimeout(() => item.remove(), 12_000);
    },
  };
}

/**
 * A short message that goes away by itself (fills, sign-in, errors outside a form). `message` builds the text from
 * the message catalogues (t, describeError): it runs again when the language changes while the toast is shown.
 */
export function toast(message: () => string, kind: "info" | "error" | "success" = "info"): void {
  const text = h("span.tx-text", null, message());
  const item = h("div.tx-item.toast", { dataset: { state: kind === "error" ? "failed" : kind === "success" ? "confirmed" : "sent" } },
    text);
  const stopTranslating = onLangChange(() => { text.textContent = message(); });
  panel().prepend(item);
  setTimeout(() => {
    stopTranslating();
    item.remove();
  }, kind === "error" ? 15_000 : 8_000);
}
