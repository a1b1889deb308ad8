// Vatio in the browser: load the community's settings, then the shell, the live connection and the pages.
import "./styles.css";
import { loadConfig } from "./config";
import { h, replace } from "./dom";
import { onLangChange, lang, t } from "./i18n";
import { startLive } from "./live";
import { adminPage } from "./pages/admin";
import { auditPage } from "./pages/audit";
import { dashboardPage } from "./pages/dashboard";
import { householdPage } from "./pages/household";
import { marketPage } from "./pages/market";
import { onNavigate, render, route, setRoot, startRouter } from "./router";
import { renderShell, renderWallet, setActiveNav } from "./shell";
import { onStateChange, state } from "./store";
import { startDiscovery } from "./wallet/discovery";
import { describeError } from "./wallet/errors";
import { reconnect, refreshSession } from "./wallet/wallet";

route("/", "dashboard", dashboardPage);
route("/household", "household", householdPage);
route("/market", "market", marketPage);
route("/audit", "audit", auditPage);
route("/audit/:intervalId", "audit", auditPage);
route("/admin", "admin", adminPage);

function whoKey(): string {
  return [state.wallet, state.user?.address, state.user?.roles.join(","), state.user?.active].join("|");
}

async function boot(): Promise<void> {
  const app = document.getElementById("app")!;
  document.documentElement.lang = lang();
  startDiscovery();
  try {
    await loadConfig();
  } catch (error) {
    replace(app, h("p.state.error", null, t("common.error", { message: describeError(error) })));
    return;
  }
  let shell = renderShell(app);
  onNavigate(setActiveNav);
  startLive();
  onLangChange(() => {
    shell = renderShell(app);
    setRoot(shell.main);
    render();
  });
  let who = whoKey();
  onStateChange(() => {
    renderWallet(shell.walletCorner);
    const next = whoKey();
    if (next !== who) {
      who = next;
      render();
    }
  });
  await refreshSession().catch(() => undefined);
  who = whoKey();
  startRouter(shell.main);
  await reconnect().catch(() => undefined);
  document.body.dataset.ready = "true";
}

void boot();
