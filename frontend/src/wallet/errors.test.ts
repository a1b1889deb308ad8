// Every custom error of every compiled ABI decodes by name and reads as a message in both languages.
// Run: npx vitest run frontend/src/wallet/errors.test.ts (after `ape compile` wrote .build/__local__.json).
import { type Abi, type AbiParameter, encodeErrorResult, type Hex } from "viem";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { setLang } from "../i18n";
import { en } from "../i18n/en";
import { es } from "../i18n/es";
import { decodeRevert, describeRevert } from "./errors";

type AbiError = Extract<Abi[number], { type: "error" }>;
interface ContractType {
  abi: Abi;
  deploymentBytecode?: { bytecode?: string };
}

// The deployment the page loads names these contracts; on a local chain "Euro" is TestEuro.
const DEPLOYED = {
  CommunityRegistry: "CommunityRegistry",
  EnergyToken: "EnergyToken",
  Euro: "TestEuro",
  EnergyMarket: "EnergyMarket",
} as const;

// errors.ts reads the ABIs from the loaded deployment; the test loads the compiled ones (vi.mock is hoisted).
const loaded = vi.hoisted((): { contracts: Record<string, { address: string; abi: Abi }> } => ({
  contracts: {},
}));
vi.mock("../config", () => ({
  deployment: () => ({ chainId: 31337, deployBlock: 0, contracts: loaded.contracts, settings: {} }),
}));

let contractTypes: Record<string, ContractType> = {};

async function readManifest(): Promise<Record<string, ContractType>> {
  // Node's fs, asked for by a plain string: the app's tsconfig carries browser types only.
  const fsModule = "node:fs";
  const fs = (await import(/* @vite-ignore */ fsModule)) as {
    readFileSync(path: URL, encoding: "utf8"): string;
  };
  const path = new URL("../../../.build/__local__.json", import.meta.url);
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch {
    throw new Error(".build/__local__.json is missing: run `ape compile` (make setup does) first");
  }
  return (JSON.parse(text) as { contractTypes: Record<string, ContractType> }).contractTypes;
}

function errorsOf(abi: Abi): AbiError[] {
  return abi.filter((item): item is AbiError => item.type === "error");
}

/** A value for an ABI parameter, different for each seed so that swapped arguments would show. */
function sample(param: AbiParameter, seed: number): unknown {
  const array = /^(.*)\[(\d*)\]$/.exec(param.type);
  if (array) {
    const inner = { ...param, type: array[1] };
    return Array.from({ length: array[2] ? Number(array[2]) : 2 }, (_, i) => sample(inner, seed + i));
  }
  if (param.type === "tuple") {
    const components = (param as { components: readonly AbiParameter[] }).components;
    return components.map((component, i) => sample(component, seed + i));
  }
  if (param.type === "address") return `0x${seed.toString(16).padStart(40, "0")}`;
  if (param.type === "bool") return seed % 2 === 1;
  if (param.type === "string") return `value ${seed}`;
  if (param.type === "bytes") return `0x${seed.toString(16).padStart(2, "0").repeat(3)}`;
  const fixedBytes = /^bytes(\d+)$/.exec(param.type);
  if (fixedBytes) return `0x${seed.toString(16).padStart(2, "0").repeat(Number(fixedBytes[1]))}`;
  const integer = /^(u?)int(\d*)$/.exec(param.type);
  if (integer) {
    const bits = Number(integer[2] || 256);
    // viem takes (and gives back) a number for integers of 48 bits or fewer, a bigint above.
    const value = integer[1] ? seed : -seed;
    return bits <= 48 ? value : BigInt(value);
  }
  throw new Error(`no sample for ABI type ${param.type}`);
}

/** A custom error's revert data, with the argument values encoded in it. */
function revertOf(error: AbiError): { data: Hex; values: unknown[] } {
  const values = error.inputs.map((input, i) => sample(input, i + 3));
  const data = encodeErrorResult({ abi: [error], errorName: error.name, args: values });
  return { data, values };
}

function placeholders(template: string): string[] {
  return [...template.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
}

beforeAll(async () => {
  contractTypes = await readManifest();
  for (const [name, type] of Object.entries(DEPLOYED)) {
    expect(contractTypes[type], `${type} is not in the build`).toBeDefined();
    loaded.contracts[name] = {
      address: "0x0000000000000000000000000000000000000001",
      abi: contractTypes[type].abi,
    };
  }
  // setLang sets <html lang>; Node has no document.
  vi.stubGlobal("document", { documentElement: {} });
});

describe("contract errors in the browser", () => {
  it("finds the interfaces and their prefixed errors in the build", () => {
    const names = new Set(
      Object.values(contractTypes).flatMap((type) => errorsOf(type.abi).map((e) => e.name)),
    );
    expect(Object.keys(contractTypes)).toEqual(
      expect.arrayContaining(["ICommunityRegistry", "IEnergyMarket", "IEnergyToken"]),
    );
    for (const name of ["MarketZeroAmount", "MarketNotOracle", "RegistryZeroAddress"])
      expect(names).toContain(name);
    for (const name of ["ZeroAmount", "NotOracle", "ZeroAddress"]) expect(names).not.toContain(name);
  });

  it("decodes every custom error of every ABI by name, with its arguments by name", () => {
    for (const [contract, type] of Object.entries(contractTypes)) {
      for (const error of errorsOf(type.abi)) {
        const { data, values } = revertOf(error);
        const decoded = decodeRevert({ code: 3, message: "execution reverted", data });
        const where = `${contract}.${error.name}`;
        expect(decoded?.name, where).toBe(error.name);
        expect(Object.keys(decoded?.args ?? {}), where).toEqual(error.inputs.map((input) => input.name));
        // Addresses come back checksummed: compare hex case-blind.
        const caseBlind = (value: unknown) => (typeof value === "string" ? value.toLowerCase() : value);
        expect(Object.values(decoded?.args ?? {}).map(caseBlind), where).toEqual(values.map(caseBlind));
      }
    }
  });

  it.each([
    ["en", en],
    ["es", es],
  ] as const)("has a %s message for every error, naming only its arguments", (lang, catalogue) => {
    setLang(lang);
    const messages = catalogue as Record<string, string>;
    for (const [contract, type] of Object.entries(contractTypes)) {
      for (const error of errorsOf(type.abi)) {
        const where = `${contract}.${error.name} (${lang})`;
        const template = messages[`revert.${error.name}`];
        expect(template, `${where}: add "revert.${error.name}" to i18n/${lang}.ts`).toBeTypeOf("string");
        const names = error.inputs.map((input) => input.name);
        for (const placeholder of placeholders(template)) expect(names, where).toContain(placeholder);

        const text = describeRevert(decodeRevert({ data: revertOf(error).data })!);
        expect(text, where).not.toMatch(/\{\w+\}/);
        expect(text, where).not.toContain(error.name); // the generic "contract refused: <name>" fallback
      }
    }
  });

  it("leaves no message for an error that no contract has any more", () => {
    const names = new Set(
      Object.values(contractTypes).flatMap((type) => errorsOf(type.abi).map((e) => e.name)),
    );
    for (const catalogue of [en, es] as Record<string, string>[]) {
      const stale = Object.keys(catalogue).filter(
        (key) => key.startsWith("revert.") && !names.has(key.slice(7)),
      );
      expect(stale).toEqual([]);
    }
  });
});
