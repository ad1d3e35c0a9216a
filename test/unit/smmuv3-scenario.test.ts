// Arm SMMUv3 hosts in scenarios: host.iommu options (clear errors at line:column with a hint),
// the machine driving the SMMU through the host-IOMMU seam, the examples' log lines against the
// real report they reproduce, the iommu-map offset, and the views reading the unit through the
// contract with no SMMU code of their own.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { simulateText } from "../../src/cli/simulate.js";
import { parseScenario } from "../../src/scenario/index.js";
import type { Diagnostic } from "../../src/scenario/types.js";
import { nicScenario } from "./helpers.js";

const root = join(__dirname, "..", "..");
const at = (d: Diagnostic) => `${d.range.line + 1}:${d.range.column + 1}`;
const errors = (text: string) => parseScenario(text, "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");

const host = (iommu: string, extra = "") => nicScenario(iommu, extra, `  kernel: "6.15"\n`);

describe("host.iommu with model smmuv3", () => {
  it("accepts the SMMU's options and rejects VT-d ones and bad values at their place, with a hint", () => {
    expect(errors(host("{ model: smmuv3, oas: 44, stream-id-bits: 20, stages: [2], event-queue: 16, iommu-map: { rid-base: 0, sid-base: 0x10000 } }"))).toEqual([]);
    const bad = host("{ model: smmuv3, oas: 46, stage: 2, stages: [1], event-queue: 100, caching-mode: true }");
    const e = errors(bad);
    const line = bad.split("\n").findIndex((l) => l.includes("model: smmuv3")) + 1;
    const col = (needle: string) => bad.split("\n")[line - 1]!.indexOf(needle) + 1;
    expect(e.map((d) => [at(d), d.message])).toEqual(
      expect.arrayContaining([
        [`${line}:${col("46")}`, "host.iommu.oas 46 is not an SMMUv3 output address size"],
        [`${line}:${col("2,")}`, "host.iommu.stage 2 is not one of the SMMU's stages"],
        [`${line}:${col("100")}`, "host.iommu.event-queue 100 is not a power of two"],
      ]),
    );
    // A VT-d key is not an SMMU option: the parser's unknown-key warning names the SMMU's keys.
    const w = parseScenario(bad, "t.passthrough.yaml").diagnostics.find((d) => /caching-mode/.test(d.message))!;
    expect(w).toMatchObject({ severity: "warning", message: 'unknown key "caching-mode" in host.iommu (smmuv3)' });
    expect(w.hint).toMatch(/Known keys: model, oas, stream-id-bits/);
    expect(e.every((d) => (d.hint ?? "").length > 0)).toBe(true);
  });
});

describe("SMMUv3 scenarios run through the machine", () => {
  it("smmuv3-real-event prints the reported lines exactly (timestamps aside)", () => {
    const text = readFileSync(join(root, "examples", "smmuv3-real-event.passthrough.yaml"), "utf8");
    const reported = text
      .split("\n")
      .filter((l) => /^# {3}arm-smmu-v3 /.test(l))
      .map((l) => l.slice(4).replace(/: {6}(0x[0-9a-f]{16})$/, ": \t$1"));
    expect(reported).toHaveLength(7);
    const r = simulateText(text, "examples/smmuv3-real-event.passthrough.yaml");
    expect(r.exitCode).toBe(0);
    expect(r.dmesg.filter((l) => l.includes("arm-smmu-v3")).map((l) => l.replace(/^\[\s*\d+\.\d+\] /, ""))).toEqual(reported);
  });

  it("the iommu-map offset: StreamID = RID + sid-base in the event record and its lines", () => {
    const text = host("{ model: smmuv3, stream-id-bits: 20, iommu-map: { rid-base: 0, sid-base: 0x10000 } }", `  - dma: { device: "01:00.0", iova: 0xc000_0000, length: 4KiB }\n    expect: { fault: 0x10 }\n`);
    const r = simulateText(text, "t.passthrough.yaml");
    expect(r.exitCode).toBe(0);
    expect(r.dmesg.some((l) => l.endsWith("event: F_TRANSLATION client: 0000:01:00.0 sid: 0x10100 ssid: 0x0 iova: 0xc0000000 ipa: 0x0"))).toBe(true);
  });

  it("a stream beyond SIDSIZE through the iommu-map is C_BAD_STREAMID", () => {
    const text = host("{ model: smmuv3, stream-id-bits: 8, two-level-stream-table: false }", `  - dma: { device: "01:00.0", iova: 0x1000_0000, length: 4KiB }\n    expect: { fault: 0x02 }\n`);
    const r = simulateText(text, "t.passthrough.yaml");
    expect(r.steps.filter((s) => s.expect).map((s) => s.expect!.pass)).toEqual([true]);
    expect(r.dmesg.some((l) => l.endsWith("event: C_BAD_STREAMID client: 0000:01:00.0 sid: 0x100 ssid: 0x0"))).toBe(true);
  });

  it("stage-2 domains (an SMMU without stage 1): S2 faults with the IPA", () => {
    const text = host("{ model: smmuv3, stages: [2], oas: 40 }", `  - dma: { device: "01:00.0", iova: 0xc000_0000, length: 4KiB, write: true }\n    expect: { fault: 0x10 }\n`);
    const r = simulateText(text, "t.passthrough.yaml");
    expect(r.exitCode).toBe(0);
    expect(r.dmesg.some((l) => l.endsWith('unpriv data write s2 "Input address caused fault" stag: 0x0'))).toBe(true);
    expect(r.dmesg.some((l) => l.endsWith("iova: 0xc0000000 ipa: 0xc0000000"))).toBe(true);
  });
});

describe("synthesize: SMMU events from a log become an smmuv3 scenario that reproduces them", () => {
  const synth = async (log: string) => {
    const { parseLog } = await import("../../src/import/dmesg.js");
    const { synthesizeScenario } = await import("../../src/import/synthesize.js");
    const records = parseLog(log).records;
    const s = synthesizeScenario(records);
    return { records, s, r: simulateText(s.text, "synth.passthrough.yaml") };
  };

  it("Cassel's nvmet-pci-epf event: host smmuv3 'fc900000.iommu', the exact IOVA, and the same decoded line", async () => {
    const text = readFileSync(join(root, "examples", "smmuv3-real-event.passthrough.yaml"), "utf8");
    const log = text.split("\n").filter((l) => /^# {3}arm-smmu-v3 /.test(l)).map((l) => l.slice(4)).join("\n");
    const { records, s, r } = await synth(log);
    expect(s.reproduced).toEqual([records.findIndex((x) => x.kind === "smmuv3-event")]);
    expect(s.text).toMatch(/iommu: \{ model: smmuv3, stream-id-bits: 16, device-name: fc900000\.iommu \}/);
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.exitCode).toBe(0);
    const want = log.split("\n").slice(-2);
    expect(r.dmesg.map((l) => l.replace(/^\[\s*\d+\.\d+\] /, "")).filter((l) => want.includes(l))).toEqual(want);
  });

  it("a StreamID that is not the requester id (r8169 report: 0000:01:00.0 is sid 0x11) becomes the iommu-map", async () => {
    const log = [
      "arm-smmu-v3 490d0000.iommu: event 0x10 received:",
      "arm-smmu-v3 490d0000.iommu:      0x0000001100000010",
      "arm-smmu-v3 490d0000.iommu:      0x0000020a00000000",
      "arm-smmu-v3 490d0000.iommu:      0x000000009b0cc000",
      "arm-smmu-v3 490d0000.iommu:      0x0000000000000000",
      "arm-smmu-v3 490d0000.iommu: event: F_TRANSLATION client: 0000:01:00.0 sid: 0x11 ssid: 0x0 iova: 0x9b0cc000 ipa: 0x0",
      'arm-smmu-v3 490d0000.iommu: priv data read s1 "Input address caused fault" stag: 0x0',
    ].join("\n");
    const { s, r } = await synth(log);
    expect(s.text).toMatch(/iommu-map: \{ rid-base: 0x100, sid-base: 0x11 \}/);
    expect(r.exitCode).toBe(0);
    expect(r.dmesg.some((l) => l.endsWith("event: F_TRANSLATION client: 0000:01:00.0 sid: 0x11 ssid: 0x0 iova: 0x9b0cc000 ipa: 0x0"))).toBe(true);
  });
});
