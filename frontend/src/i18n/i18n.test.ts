// The first language follows the browser's list; every oracle rejection reason reads as words in both languages.
// Run: npx vitest run frontend/src/i18n/i18n.test.ts
import { beforeAll, describe, expect, it } from "vitest";
import { en } from "./en";
import { es } from "./es";
import { preferredLang } from "./index";

describe("preferredLang", () => {
  it("is English for an English browser and Spanish for a Spanish one", () => {
    expect(preferredLang(["en-US", "en"])).toBe("en");
    expect(preferredLang(["es-ES", "en"])).toBe("es");
    expect(preferredLang(["en-GB", "es"])).toBe("en");
  });
  it("takes the first language it has, and Spanish when none matches", () => {
    expect(preferredLang(["de-DE", "en-US", "es"])).toBe("en");
    expect(preferredLang(["fr-FR", "de"])).toBe("es");
    expect(preferredLang([])).toBe("es");
  });
});

describe("rejection reasons", () => {
  // The stable codes the oracle stores (backend/protocol/parser.py, class Reason).
  let codes: string[] = [];
  beforeAll(async () => {
    // Node's fs, asked for by a plain string: the app's tsconfig carries browser types only.
    const fsModule = "node:fs";
    const fs = (await import(/* @vite-ignore */ fsModule)) as {
      readFileSync(path: URL, encoding: "utf8"): string;
    };
    const parser = fs.readFileSync(new URL("../../../backend/protocol/parser.py", import.meta.url), "utf8");
    const body = parser.slice(parser.indexOf("class Reason("), parser.indexOf("class RejectedReading"));
    codes = [...body.matchAll(/^\s+[A-Z_]+ = "([a-z_]+)"/gm)].map((match) => match[1]);
  });

  it("has words in English and Spanish for each", () => {
    expect(codes.length).toBeGreaterThan(10);
    for (const code of codes) {
      const key = `reason.${code}` as keyof typeof en;
      expect(en[key], code).toBeTruthy();
      expect(es[key], code).toBeTruthy();
      expect(es[key], code).not.toBe(en[key]);
    }
  });
});
