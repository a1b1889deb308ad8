// How a household sets up its bridge (docs/meters.md), shown beside the admin's registration form: the
// exact commands, filled in with the meter address the admin is registering once it is a valid one.
import { getAddress, isAddress } from "viem";
import { config } from "../config";
import { h, replace } from "../dom";
import { t } from "../i18n";

const KEYSTORE = "~/.vatio/meter.json";
const BROKER_PASSWORD = "~/.vatio/broker.password";

/** The commands, in order, for the meter `address` (a placeholder until there is one). */
export function bridgeCommands(address: string | null): { who: string; command: string }[] {
  const local = config().local;
  const community = local ? "demo" : "COMMUNITY";
  const broker = local ? "mqtt://127.0.0.1:1883" : "mqtts://BROKER:8883 --broker-ca ca.crt";
  const meter = address ?? "ADDRESS";
  const deployment = `deployments/${config().chainId ?? "CHAIN_ID"}.json`;
  return [
    { who: t("setup.household"), command: `vatio bridge keygen --keystore ${KEYSTORE}` },
    { who: t("setup.admin"), command: `vatio meter credentials ${meter} --community ${community} --out broker.password` },
    { who: t("setup.household"), command: `vatio bridge --p1 /dev/ttyUSB0 --keystore ${KEYSTORE} --deployment ${deployment} `
      + `--community ${community} --broker ${broker} --broker-password-file ${BROKER_PASSWORD}` },
  ];
}

/** The setup guide; it follows what is typed in `meterInput`. */
export function bridgeSetup(meterInput: HTMLInputElement): HTMLElement {
  const body = h("div");
  const render = () => {
    const typed = meterInput.value.trim();
    const address = isAddress(typed) ? getAddress(typed) : null;
    const steps = bridgeCommands(address);
    replace(body,
      h("p.note", null, t("setup.intro")),
      h("ol", null, steps.map((step, index) => h("li", null,
        h("div.note", null, `${step.who}: ${t(index === 0 ? "setup.keygen" : index === 1 ? "setup.credentials" : "setup.run")}`),
        h("pre", null, h("code", { dataset: { testid: `setup-command-${index + 1}` } }, step.command))))),
      h("p.note", { dataset: { testid: "setup-address" } }, address
        ? t("setup.addressToRegister", { address }) : t("setup.addressFromKeygen")),
      h("p.note", null, t("setup.otherSources")));
  };
  meterInput.addEventListener("input", render);
  render();
  return h("div.bridge-setup", { dataset: { testid: "bridge-setup" } }, h("h3", null, t("setup.title")), body);
}
