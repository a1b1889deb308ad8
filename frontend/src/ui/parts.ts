// Building blocks every page uses: cards, numbers, tables, and the loading / empty / error states.
import { h, replace } from "../dom";
import { t } from "../i18n";
import { describeError } from "../wallet/errors";

type Child = Parameters<typeof h>[2];

export function card(title: string, id: string | null, ...body: Child[]): HTMLElement {
  return h("section.card", { id: id ?? undefined }, h("h2", null, title), ...body);
}

export function stat(label: string, value: string, detail?: string, testId?: string): HTMLElement {
  return h(
    "div.stat",
    { dataset: testId ? { testid: testId } : undefined },
    h("div.stat-label", null, label),
    h("div.stat-value", null, value),
    detail ? h("div.stat-detail", null, detail) : null,
  );
}

export function loading(): HTMLElement {
  return h(
    "p.state.loading",
    { role: "status" },
    h("span.spinner", { "aria-hidden": "true" }),
    t("common.loading"),
  );
}

export function empty(message: string): HTMLElement {
  return h("p.state.empty", null, message);
}

export function failure(error: unknown, retry?: () => void): HTMLElement {
  return h(
    "div.state.error",
    { role: "alert" },
    h("span", null, t("common.error", { message: describeError(error) })),
    retry ? h("button.secondary", { type: "button", onclick: retry }, t("common.retry")) : null,
  );
}

export function table(headers: string[], rows: Child[][], testId?: string): HTMLElement {
  return h(
    "div.table-wrap",
    null,
    h(
      "table",
      { dataset: testId ? { testid: testId } : undefined },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          headers.map((header) => h("th", null, header)),
        ),
      ),
      h(
        "tbody",
        null,
        rows.map((row) =>
          h(
            "tr",
            null,
            row.map((cell) => h("td", null, cell)),
          ),
        ),
      ),
    ),
  );
}

/**
 * Show a loading state in `container`, then what `load` builds, or the error with a retry button.
 * Returns a function that loads again (for refreshes: it keeps the old content until the new one is ready).
 */
export function fill(container: HTMLElement, load: () => Promise<Child>): () => Promise<void> {
  let first = true;
  let generation = 0;
  const run = async () => {
    const mine = ++generation;
    if (first) replace(container, loading());
    try {
      const content = await load();
      if (mine === generation) replace(container, content);
      first = false;
    } catch (error) {
      if (mine === generation)
        replace(
          container,
          failure(error, () => {
            first = true;
            void run();
          }),
        );
    }
  };
  void run();
  return run;
}

/** An inline message under a form: error or success, in words (`testid` tells two on one card apart). */
export function formMessage(testid = "form-message"): {
  element: HTMLElement;
  show(text: string, kind?: "error" | "success" | "info"): void;
  clear(): void;
} {
  const element = h("p.form-message", { role: "alert", dataset: { testid } });
  return {
    element,
    show(text, kind = "error") {
      element.textContent = text;
      element.dataset.kind = kind;
    },
    clear() {
      element.textContent = "";
      delete element.dataset.kind;
    },
  };
}

export function field(label: string, input: HTMLElement, hint?: string): HTMLElement {
  return h(
    "label.field",
    null,
    h("span.field-label", null, label),
    input,
    hint ? h("small.hint", null, hint) : null,
  );
}
