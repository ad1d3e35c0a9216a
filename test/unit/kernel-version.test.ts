// Kernel version comparisons (src/sim/kernelVersion.ts), which every kernel-dependent rule of the
// three models makes: a version is older or newer by (major, minor) whatever its spelling, and a
// rule's answer for an old major does not depend on its minor number.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasStableBackport, kernelAtLeast, parseKernelVersion, versionAtLeast } from "../../src/sim/kernelVersion.js";
import { iteChecksPresence, prqHandlerEra, prqPrivateDataHandling } from "../../src/sim/vtd/driver.js";

describe("kernel versions", () => {
  it("orders versions by major, then minor, in every spelling a scenario or a log uses", () => {
    const spellings = (a: number, b: number) => [`${a}.${b}`, `v${a}.${b}-rc3`, `${a}.${b}.0-21-amd64`, `linux-${a}.${b}.7`];
    fc.assert(
      fc.property(fc.nat(9), fc.nat(30), fc.nat(9), fc.nat(30), fc.constantFrom(0, 1, 2, 3), (a, b, c, d, k) => {
        const want = a > c || (a === c && b >= d);
        expect(kernelAtLeast(spellings(a, b)[k], c, d, false)).toBe(want);
        expect(versionAtLeast(parseKernelVersion(spellings(a, b)[k]!)!, c, d)).toBe(want);
      }),
    );
  });

  it("answers a text without a version as the rule says (the current kernel, or the oldest)", () => {
    for (const v of [undefined, "", "latest"]) {
      expect(kernelAtLeast(v, 6, 9, true)).toBe(true);
      expect(kernelAtLeast(v, 6, 9, false)).toBe(false);
    }
  });

  it("finds a stable backport only in its own stable series, from its patch level", () => {
    const b = [[6, 1, 33]] as const;
    expect(["6.1.33", "6.1.40-generic", "6.1.32", "6.1", "6.2.33", "6.10.33"].map((v) => hasStableBackport(v, b))).toEqual([true, true, false, false, false, false]);
  });

  it("gives a v4.x kernel the VT-d page request handling of before v5.x, whatever its minor number", () => {
    // The comparisons once read the minor alone: 4.14 - 4.20 counted as v5.13 / v5.14 or later.
    for (const minor of [4, 9, 14, 19, 20]) {
      expect(prqHandlerEra(`4.${minor}`)).toBe("failure");
      expect(prqPrivateDataHandling(`4.${minor}`)).toBe("cleared");
      expect(iteChecksPresence(`4.${minor}`)).toBe(false);
    }
    expect([prqHandlerEra("5.14"), prqHandlerEra("5.12"), prqHandlerEra("5.11")]).toEqual(["refactored", "invalid", "failure"]);
    expect([prqPrivateDataHandling("6.10"), prqPrivateDataHandling("5.13"), prqPrivateDataHandling("5.12")]).toEqual(["ignored", "echo", "cleared"]);
  });
});
