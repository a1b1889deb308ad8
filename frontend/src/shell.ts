// The frame around every page: navigation, language switch, live status, the wallet and sign-in.
import { h, replace } from "./dom";
import { shortHex } from "./format";
import { type Lang, lang, setLang, t } from "./i18n";
import { liveStatus, onLiveStatus, restartLive } from "./live";
import { config } from "./config";
import { state } from "./store";
import { burnerAllowed, demoHouseholds, parseKey } from "./wallet/burner";
import { discoveredWallets } from "./wallet/discovery";
import { describeError } from "./wallet/errors";
import { connectWallet, disconnectWallet, ensureChain, signIn, signOut } from "./wallet/wallet";
import { toast } from "./ui/txpanel";

const NAV: { path: string; key: Parameters<typeof t>[0]; name: string }[] = [
  { path: "/", key: "nav.dashboard", name: "dashboard" },
  { path: "/household", key: "nav.household", name: "household" },
  { path: "/market", key: "nav.market", name: "market" },
  { path: "/audit", key: "nav.audit", name: "audit" },
  { path: "/admin", key: "nav.admin", name: "admin" },
];

let current = "dashboard";

export function setActiveNav(name: string): void {
  current = name;
  document.querySelectorAll<HTMLAnchorElement>("nav.main-nav a").forEach((link) => {
    link.classList.toggle("active", link.dataset.name === name);
    if (link.dataset.name === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
}

function liveBadge(): HTMLElement {
  const badge = h("span.live-badge", { dataset: { testid: "live-status" } });
  const paint = () => {
    const status = liveStatus();
    badge.dataset.status = status;
    badge.textContent = t(`live.${status}`);
  };
  paint();
  onLiveStatus(paint);
  return badge;
}

function languageSwitch(): HTMLElement {
  const select = h(
    "select#lang-switch",
    {
      "aria-label": t("lang.label"),
      dataset: { testid: "lang-switch" },
      onchange: (event: Event) => setLang((event.target as HTMLSelectElement).value as Lang),
    },
    h("option", { value: "es", selected: lang() === "es" }, "ES · Español"),
    h("option", { value: "en", selected: lang() === "en" }, "EN · English"),
  );
  return select;
}

async function chooseWallet(button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  try {
    const wallets = await discoveredWallets();
    if (wallets.length === 1) return await connectWallet(wallets[0]);
    const menu = h(
      "div.wallet-menu",
      { role: "dialog", "aria-label": t("wallet.choose") },
      h("strong", null, t("wallet.choose")),
      wallets.map((wallet) =>
        h(
          "button.secondary",
          { type: "button", onclick: () => run(() => connectWallet(wallet)) },
          wallet.info.icon ? h("img", { src: wallet.info.icon, alt: "", width: 20, height: 20 }) : null,
          wallet.info.name,
        ),
      ),
      !wallets.length ? h("p", null, t("wallet.none")) : null,
      !wallets.length && burnerAllowed()
        ? [
            h(
              "button",
              {
                type: "button",
                dataset: { testid: "use-burner" },
                onclick: () => run(() => connectWallet("burner")),
              },
              t("wallet.burner"),
            ),
            h("small", null, t("wallet.burnerNote")),
            localKeys((choice) => run(() => connectWallet(choice))),
          ]
        : null,
      h("button.link", { type: "button", onclick: () => menu.remove() }, t("common.close")),
    );
    const run = (action: () => Promise<void>) => {
      menu.remove();
      action().catch((error) => toast(() => describeError(error), "error"));
    };
    document.body.appendChild(menu);
  } catch (error) {
    toast(() => describeError(error), "error");
  } finally {
    button.disabled = false;
  }
}

/** On a local chain: the demo's households (Anvil's public test accounts) and a field to paste any key. */
function localKeys(choose: (choice: { key: `0x${string}`; name: string }) => void): HTMLElement {
  const demo = h("div.demo-households", { dataset: { testid: "demo-households" } });
  void demoHouseholds()
    .then((households) => {
      if (!households.length) return;
      replace(
        demo,
        h("strong", null, t("wallet.demoHouseholds")),
        ...households.map((household) => {
          const name = t("wallet.demoHousehold", { number: household.number });
          return h(
            "button.secondary",
            {
              type: "button",
              title: household.address,
              dataset: { testid: `demo-household-${household.number}` },
              onclick: () => choose({ key: household.key, name }),
            },
            name,
            " ",
            h("code", null, shortHex(household.address)),
          );
        }),
      );
    })
    .catch(() => undefined);
  const input = h("input", {
    type: "password",
    autocomplete: "off",
    spellcheck: false,
    placeholder: "0x…",
    "aria-label": t("wallet.importKey"),
    dataset: { testid: "import-key" },
  });
  const message = h("small.form-message", { role: "alert", dataset: { testid: "import-key-message" } });
  const form = h(
    "form.import-key",
    {
      onsubmit: (event: Event) => {
        event.preventDefault();
        const key = parseKey(input.value);
        if (!key) {
          message.textContent = t("wallet.importKeyInvalid");
          return;
        }
        choose({ key, name: t("wallet.importedKey") });
      },
    },
    h("label", null, t("wallet.importKey"), input),
    h(
      "button.secondary",
      { type: "submit", dataset: { testid: "import-key-use" } },
      t("wallet.importKeyUse"),
    ),
    h("small", null, t("wallet.importKeyNote")),
    message,
  );
  return h("div.local-keys", null, demo, form);
}

/** The wallet corner: connect, switch network, sign in, signed-in address and role. */
export function renderWallet(container: HTMLElement): void {
  const expected = config().chainId;
  if (!state.wallet) {
    const button = h(
      "button",
      { type: "button", dataset: { testid: "connect-wallet" } },
      t("wallet.connect"),
    );
    button.addEventListener("click", () => void chooseWallet(button));
    replace(container, button);
    return;
  }
  const parts: HTMLElement[] = [];
  if (expected !== null && state.walletChainId !== expected) {
    parts.push(
      h(
        "button.warn",
        {
          type: "button",
          title: t("wallet.wrongChain", { actual: state.walletChainId ?? "?", expected }),
          onclick: () => ensureChain().catch((error) => toast(() => describeError(error), "error")),
        },
        t("wallet.switchChain"),
      ),
    );
  }
  const user = state.user;
  const signedIn = user && user.address.toLowerCase() === state.wallet.toLowerCase();
  const role = !signedIn
    ? t("wallet.notSignedIn")
    : user.admin
      ? t("wallet.roleAdmin")
      : user.household
        ? t("wallet.roleHousehold")
        : t("wallet.roleVisitor");
  parts.push(
    h(
      "span.address",
      { title: state.wallet, dataset: { testid: "wallet-address" } },
      h("code", null, shortHex(state.wallet)),
      h("small.role", { dataset: { testid: "wallet-role" } }, role),
    ),
  );
  if (signedIn) {
    parts.push(
      h(
        "button.secondary",
        {
          type: "button",
          dataset: { testid: "sign-out" },
          onclick: () => {
            void signOut().then(restartLive);
          },
        },
        t("wallet.signOut"),
      ),
    );
  } else {
    const button = h("button", { type: "button", dataset: { testid: "sign-in" } }, t("wallet.signIn"));
    const signInClicked = async () => {
      button.disabled = true;
      button.textContent = t("wallet.signingIn");
      try {
        await ensureChain();
        const signed = await signIn();
        restartLive();
        toast(() => t("wallet.signedIn", { address: shortHex(signed.address) }), "success");
      } catch (error) {
        toast(() => describeError(error), "error");
        button.disabled = false;
        button.textContent = t("wallet.signIn");
      }
    };
    button.addEventListener("click", () => void signInClicked());
    parts.push(button);
  }
  parts.push(
    h(
      "button.link",
      {
        type: "button",
        onclick: () => {
          void signOut();
          disconnectWallet();
        },
      },
      t("wallet.disconnect"),
    ),
  );
  replace(container, ...parts);
}

export function renderShell(app: HTMLElement): { main: HTMLElement; walletCorner: HTMLElement } {
  const walletCorner = h("div.wallet-corner");
  const main = h("main#main", { tabindex: -1 });
  const header = h(
    "header.top",
    null,
    h(
      "a.brand",
      { href: "/", dataset: { link: "" } },
      h("span.logo", { "aria-hidden": "true" }, "⚡"),
      t("app.title"),
      h("small", null, t("app.tagline")),
    ),
    h(
      "nav.main-nav",
      { "aria-label": "main" },
      NAV.map((item) => h("a", { href: item.path, dataset: { link: "", name: item.name } }, t(item.key))),
    ),
    h("div.top-tools", null, liveBadge(), languageSwitch(), walletCorner),
  );
  const footer = h(
    "footer",
    null,
    h("span", null, t("footer.source")),
    " · ",
    h("a", { href: "/api/docs" }, t("footer.api")),
  );
  replace(app, header, main, footer);
  setActiveNav(current);
  renderWallet(walletCorner);
  return { main, walletCorner };
}
