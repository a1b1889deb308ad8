// The household's read-only API tokens (docs/api.md): make one for `vatio bridge ha-publish --token-file`,
// see when each was last used, revoke it. A new token is shown once, right after it is made.
import { api } from "../api";
import { h, replace } from "../dom";
import { dateTime } from "../format";
import { t } from "../i18n";
import { describeError } from "../wallet/errors";
import { empty, formMessage, table } from "./parts";

interface Token {
  id: number;
  label: string;
  createdAt: number;
  lastUsedAt: number | null;
}

/** The panel for `household`, which must be the wallet signed in (only it manages its tokens). */
export function tokenPanel(household: string): HTMLElement {
  const base = `/api/households/${household}/tokens`;
  const message = formMessage();
  const list = h("div");
  const shown = h("div", { dataset: { testid: "token-new" } });
  const label = h("input", {
    name: "label",
    placeholder: "Home Assistant",
    maxLength: 100,
    autocomplete: "off",
    dataset: { testid: "token-label" },
  });
  const refresh = async () => {
    try {
      const { items } = await api<{ items: Token[] }>(base);
      replace(
        list,
        items.length
          ? table(
              [t("token.label"), t("token.created"), t("token.lastUsed"), ""],
              items.map((token) => [
                token.label || "—",
                dateTime(token.createdAt),
                token.lastUsedAt ? dateTime(token.lastUsedAt) : t("token.never"),
                h(
                  "button.secondary.small",
                  {
                    type: "button",
                    dataset: { testid: `token-revoke-${token.id}` },
                    onclick: async () => {
                      try {
                        await api(`${base}/${token.id}`, { method: "DELETE" });
                        void refresh();
                      } catch (error) {
                        message.show(describeError(error));
                      }
                    },
                  },
                  t("token.revoke"),
                ),
              ]),
              "tokens",
            )
          : empty(t("token.none")),
      );
    } catch (error) {
      replace(list, empty(describeError(error)));
    }
  };
  const form = h(
    "form",
    {
      novalidate: true,
      onsubmit: async (event: Event) => {
        event.preventDefault();
        message.clear();
        try {
          const made = await api<Token & { token: string }>(base, { body: { label: label.value.trim() } });
          label.value = "";
          replace(
            shown,
            h("p.note", null, t("token.once")),
            h("pre", null, h("code", { dataset: { testid: "token-value" } }, made.token)),
          );
          void refresh();
        } catch (error) {
          message.show(describeError(error));
        }
      },
    },
    h("label", null, t("token.label"), " ", label),
    " ",
    h("button", { type: "submit", dataset: { testid: "token-create" } }, t("token.create")),
    message.element,
  );
  void refresh();
  return h(
    "div",
    { dataset: { testid: "token-panel" } },
    h("p.note", null, t("token.intro")),
    form,
    shown,
    list,
  );
}
