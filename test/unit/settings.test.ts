import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS } from "../../src/extension/contributions.js";
import { readSetting, SETTINGS } from "../../src/extension/settings.js";

const manifest = JSON.parse(readFileSync(join(__dirname, "../../package.json"), "utf8")) as { contributes: { configuration: { properties: Record<string, Record<string, unknown>> } } };

describe("settings", () => {
  it("the typed table is package.json's schema: every key, type, default, enum and bound", () => {
    const props = manifest.contributes.configuration.properties;
    expect(Object.keys(props).sort()).toEqual(CONFIG_KEYS.map((k) => `passthrough.${k}`).sort());
    for (const k of CONFIG_KEYS) {
      const p = props[`passthrough.${k}`]!;
      const s = SETTINGS[k] as Record<string, unknown>;
      for (const field of ["type", "default", "enum", "minimum", "maximum"]) expect(p[field], `${k}.${field}`).toEqual(s[field]);
    }
  });

  it("a hand-edited value the schema forbids is never handed to the code", () => {
    fc.assert(
      fc.property(fc.constantFrom(...CONFIG_KEYS), fc.anything(), (key, v) => {
        const got = readSetting({ get: () => v }, key);
        const s = SETTINGS[key];
        if (s.type === "number") {
          expect(typeof got).toBe("number");
          expect(got).toBeGreaterThanOrEqual(s.minimum);
          expect(got).toBeLessThanOrEqual(s.maximum ?? Infinity);
          // (=== and not Object.is: a hand-written -0 is the delay 0, whichever zero comes back)
          if (typeof v === "number" && Number.isFinite(v) && v >= s.minimum && v <= (s.maximum ?? Infinity)) expect(got === v, `${String(got)} for ${String(v)}`).toBe(true);
        } else expect(s.enum).toContain(got);
      }),
    );
    expect(readSetting({ get: () => "12" }, "rerunDelay")).toBe(5);
    expect(readSetting({ get: () => -3 }, "settleDelay")).toBe(0);
    expect(readSetting({ get: () => undefined }, "engineTimeout")).toBe(20000);
    expect(readSetting({ get: () => "dec" }, "radix")).toBe("dec");
    expect(readSetting({ get: () => "DEC" }, "radix")).toBe("hex");
  });
});
