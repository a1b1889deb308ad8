// How a household sets up its bridge (docs/meters.md), shown beside the admin's registration form: the
// exact commands, filled in with the meter address the admin is registering once it is a valid one.
import { getAddress, isAddress } from "viem";
import { api } from "../api";
import { config } from "../config";
import { h, replace } from "../dom";
import { t } from "../i18n";
import { formMessage } from "../ui/parts";
import { describeError } from "../wallet/errors";

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
    {
      who: t("setup.admin"),
      command: `vatio meter credentials ${meter} --community ${community} --out broker.password`,
    },
    {
      who: t("setup.household"),
      command:
        `vatio bridge --p1 /dev/ttyUSB0 --keystore ${KEYSTORE} --deployment ${deployment} ` +
        `--community ${community} --broker ${broker} --broker-password-file ${BROKER_PASSWORD}`,
    },
  ];
}

interface Credentials {
  username: string;
  password: string;
  rotated: boolean;
  topic: string;
  brokerReloaded: boolean;
}

/** A button that creates or rotates the meter's broker login on the server (when it manages the broker's
 * auth folder) and shows the new password once; the same as `vatio meter credentials` on the broker's host. */
function credentialsButton(meterInput: HTMLInputElement): HTMLElement {
  const message = formMessage("bridge-login-message");
  const shown = h("div", { dataset: { testid: "credentials-result" } });
  const button = h(
    "button.secondary",
    {
      type: "button",
      dataset: { testid: "credentials-create" },
      onclick: async () => {
        message.clear();
        replace(shown);
        const typed = meterInput.value.trim();
        if (!isAddress(typed)) return message.show(t("admin.invalidAddress"));
        button.disabled = true;
        try {
          const made = await api<Credentials>(`/api/admin/meters/${getAddress(typed)}/credentials`, {
            body: {},
          });
          replace(
            shown,
            h(
              "p.note",
              null,
              t(made.rotated ? "setup.loginRotated" : "setup.loginCreated", { username: made.username }),
              " ",
              t(made.brokerReloaded ? "setup.brokerReloaded" : "setup.brokerNotRunning"),
            ),
            h("p.note", null, t("setup.passwordOnce")),
            h("pre", null, h("code", { dataset: { testid: "credentials-password" } }, made.password)),
          );
        } catch (error) {
          message.show(describeError(error));
        } finally {
          button.disabled = false;
        }
      },
    },
    t("setup.createLogin"),
  );
  return h("div", null, button, message.element, shown);
}

/** The setup guide; it follows what is typed in `meterInput`. */
export function bridgeSetup(meterInput: HTMLInputElement): HTMLElement {
  const body = h("div");
  const login = credentialsButton(meterInput);
  const render = () => {
    const typed = meterInput.value.trim();
    const address = isAddress(typed) ? getAddress(typed) : null;
    const steps = bridgeCommands(address);
    replace(
      body,
      h("p.note", null, t("setup.intro")),
      h(
        "ol",
        null,
        steps.map((step, index) =>
          h(
            "li",
            null,
            h(
              "div.note",
              null,
              `${step.who}: ${t(index === 0 ? "setup.keygen" : index === 1 ? "setup.credentials" : "setup.run")}`,
            ),
            h("pre", null, h("code", { dataset: { testid: `setup-command-${index + 1}` } }, step.command)),
          ),
        ),
      ),
      h(
        "p.note",
        { dataset: { testid: "setup-address" } },
        address ? t("setup.addressToRegister", { address }) : t("setup.addressFromKeygen"),
      ),
      h("p.note", null, t("setup.otherSources")),
    );
    body.appendChild(login);
  };
  meterInput.addEventListener("input", render);
  render();
  return h(
    "div.bridge-setup",
    { dataset: { testid: "bridge-setup" } },
    h("h3", null, t("setup.title")),
    body,
  );
}
