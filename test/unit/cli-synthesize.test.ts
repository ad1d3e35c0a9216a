// `passthrough synthesize`: --unit picks the DMAR unit of a debugfs dump of several (as Create
// Scenario from Evidence asks), with a clear error for a unit the dumps lack; and evidence from an
// Arm host (SMMUv3) gets QEMU's virt layout: the trace's mappings point into guest RAM at GPA
// 0x4000_0000 and up, so the scenario runs without QEMU's "vfio_container_dma_map ... Bad address".
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError, parseCommandLine } from "../../src/cli/args.js";
import { simulateText } from "../../src/cli/simulate.js";
import { VIRT_RAM_BASE } from "../../src/sim/kvm.js";
import { cli } from "./helpers.js";

const root = join(__dirname, "..", "..");
const fixture = (f: string) => join(root, "test", "fixtures", "evidence", f);

describe("synthesize --unit", () => {
  it("parses --unit NAME and refuses an empty one", () => {
    expect(parseCommandLine(["synthesize", "a.txt", "--unit", "dmar0"])).toEqual({ cmd: "synthesize", files: ["a.txt"], unit: "dmar0" });
    expect(parseCommandLine(["synthesize", "a.txt"])).toEqual({ cmd: "synthesize", files: ["a.txt"] });
    expect(() => parseCommandLine(["synthesize", "a.txt", "--unit="])).toThrow(UsageError);
  });

  // Changed on purpose (multi-unit hosts): without --unit the scenario has both units (host.iommus), each
  // with its own root table and mode (dmar0 scalable, dmar1 legacy), not only the unit with more entries.
  it("a dump of two units: every unit's tables with a hint on stderr, or the unit asked for", async () => {
    const dflt = await cli("synthesize", fixture("debugfs-kabylake-sm.txt"));
    expect(dflt.code).toBe(0);
    expect(dflt.err).toContain("2 DMAR units hold tables (dmar1, dmar0); the scenario has every unit's (host.iommus): --unit NAME for one");
    expect(dflt.out).toContain("iommus:");
    expect(dflt.out).toContain("poke: { register: RTADDR, unit: dmar0, value: 0x103028400 }");
    expect(dflt.out).toContain("poke: { register: RTADDR, unit: dmar1, value: 0x103027000 }");
    const dmar0 = await cli("synthesize", fixture("debugfs-kabylake-sm.txt"), "--unit", "dmar0");
    expect(dmar0.code).toBe(0);
    expect(dmar0.out).toMatch(/^# Reproduced from debugfs-kabylake-sm\.txt: dmar0$/m);
    expect(dmar0.out).toContain("scalable: true");
    const dmar1 = await cli("synthesize", fixture("debugfs-kabylake-sm.txt"), "--unit", "dmar1");
    expect(dmar1.out).not.toContain("scalable: true");
    // Each scenario runs and passes its own checks.
    for (const s of [dflt.out, dmar0.out, dmar1.out]) expect(simulateText(s, "t.passthrough.yaml").exitCode).toBe(0);
  });

  it("a unit the dumps lack, or --unit without a dump, exits 2 naming what there is", async () => {
    const none = await cli("synthesize", fixture("debugfs-kabylake-sm.txt"), "--unit", "dmar7");
    expect([none.code, none.out]).toEqual([2, ""]);
    expect(none.err).toContain("--unit dmar7: the dumps have no DMAR unit of that name with tables (units: dmar1, dmar0)");
    const log = await cli("synthesize", fixture("mixed-dmesg.txt"), "--unit", "dmar0");
    expect(log.code).toBe(2);
    expect(log.err).toContain("--unit dmar0: the evidence has no debugfs table dump");
  });
});

describe("synthesize from an Arm host's evidence", () => {
  it("maps the trace's IOVAs to guest RAM of QEMU's virt machine, and the scenario reproduces the SMMU fault", async () => {
    const dir = mkdtempSync(join(tmpdir(), "synth-arm-"));
    const log = readFileSync(fixture("mixed-dmesg.txt"), "utf8").split("\n").filter((l) => l.includes("arm-smmu-v3 ")).join("\n");
    writeFileSync(join(dir, "smmu.log"), `${log}\n`);
    writeFileSync(
      join(dir, "trace.txt"),
      [
        "# tracer: nop",
        " qemu-system-aar-4242    [003] .....   811.000000: map: IOMMU: iova=0x00000000ffff0000 - 0x00000000ffffe000 paddr=0x0000000123450000 size=57344",
        " qemu-system-aar-4242    [001] .....   811.999000: unmap: IOMMU: iova=0x00000000ffff0000 - 0x00000000ffffe000 size=57344 unmapped_size=57344",
        "",
      ].join("\n"),
    );
    const r = await cli("synthesize", join(dir, "smmu.log"), join(dir, "trace.txt"));
    expect(r.code).toBe(0);
    expect(r.out).toContain("model: smmuv3");
    // An Arm guest's vIOMMU is virtio-iommu (QEMU's virt machine has no intel-iommu).
    expect(r.out).toContain("viommu: { model: virtio-iommu }");
    expect(r.out).not.toContain("model: intel");
    const gpa = /guest-map: \{[^}]*gpa: (0x[0-9a-f]+)/.exec(r.out)?.[1];
    expect(BigInt(gpa!)).toBe(VIRT_RAM_BASE + 0x1000_0000n);
    const sim = simulateText(r.out, "t.passthrough.yaml");
    expect(sim.vmm.map((v) => v.text).join("\n")).not.toContain("Bad address");
    expect(sim.steps.map((s) => s.summary).join("\n")).toContain("one per aligned block of each MAP request");
    expect([sim.exitCode, sim.expectations]).toEqual([0, { passed: 1, failed: 0, notReached: 0 }]);
    expect(sim.dmesg.join("\n")).toContain("event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0xfffff000");
  });
});
