// virtio-iommu as a VM's vIOMMU (sim/viommu.ts VirtioIommu): the scenario keys, QEMU's MAP / UNMAP
// at the notifier level (hw/virtio/virtio-iommu.c), the guest driver's rules (drivers/iommu/
// virtio-iommu.c, drivers/iommu/iommu.c), the errors a user meets, and the VM view naming the model
// through the one view code (no virtio-iommu code in the extension, the webview or the debugger).
import fc from "fast-check";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import type { Scenario } from "../../src/scenario/types.js";
import { runScenario } from "../../src/sim/run.js";
import { VirtioIommu, type ShadowEntry } from "../../src/sim/viommu.js";
import { treeChildren } from "../../src/engine/trees.js";

const root = join(__dirname, "..", "..");

function load(text: string): Scenario {
  const p = parseScenario(text, "test.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return p.scenario;
}

const arm = (viommu: string, workload: string) => `
host:
  memory: 16GiB
  iommu: { model: smmuv3, oas: 48, stream-id-bits: 16 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "15b3:1017", name: NIC, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: a
    memory: 2GiB
    devices: ["01:00.0"]
    viommu: ${viommu}
workload:
  - start: a
${workload}`;

/** The same VM on an x86 host (a q35 guest). */
const x86 = (iommu: string, viommu: string, workload: string) => arm(viommu, workload).replace("iommu: { model: smmuv3, oas: 48, stream-id-bits: 16 }", `iommu: ${iommu}`);

const gmap = (iova: string, size: string, gpa: string) => `  - guest-map: { vm: a, device: "01:00.0", iova: ${iova}, size: ${size}, perm: rw, gpa: ${gpa} }\n`;
const gunmap = (iova: string, size: string) => `  - guest-unmap: { vm: a, device: "01:00.0", iova: ${iova}, size: ${size} }\n`;
const dma = (iova: string) => `  - dma: { device: "01:00.0", iova: ${iova}, length: 4KiB, write: true }\n`;

function run(viommu: string, workload: string) {
  const r = runScenario(load(arm(viommu, workload))).run!;
  return { run: r, outcomes: r.outcomes, vm: r.machine.vmState("a")! };
}

describe("virtio-iommu: scenario keys", () => {
  it("accepts model virtio-iommu with granule and aw-bits, on smmuv3 and intel-vtd hosts", () => {
    const s = load(arm("{ model: virtio-iommu, granule: 16k, aw-bits: 40 }", ""));
    expect(s.vms[0]!.viommu).toMatchObject({ model: "virtio-iommu", granule: 16384, awBits: 40 });
    const x86 = load(arm("{ model: virtio-iommu }", "").replace("{ model: smmuv3, oas: 48, stream-id-bits: 16 }", "{ model: intel-vtd, address-width: 48 }"));
    expect(x86.vms[0]!.viommu!.model).toBe("virtio-iommu");
  });

  it("warns at the second of two overlapping guest maps with QEMU's answer, S_INVAL (unless the step expects an error)", () => {
    const p = parseScenario(arm("{ model: virtio-iommu }", gmap("0x10000", "8KiB", "0x40000000") + gmap("0x11000", "8KiB", "0x40100000")), "t.yaml");
    const w = p.diagnostics.filter((d) => d.code === "map-overlap");
    expect(w.map((d) => [d.severity, d.message, d.range.line])).toEqual([["warning", "overlaps the mapping made at line 15; QEMU's virtio-iommu answers VIRTIO_IOMMU_S_INVAL", 15]]);
  });

  it("rejects QEMU's invalid aw-bits with its message, and intel-only options, at their line and column", () => {
    const p = parseScenario(arm("{ model: virtio-iommu, aw-bits: 31, caching-mode: true }", ""), "t.yaml");
    const aw = p.diagnostics.find((d) => d.code === "viommu-aw-bits")!;
    expect(aw.message).toBe("aw-bits must be within [32,64]");
    expect(aw.hint).toBeTruthy();
    expect(aw.range.line).toBe(11); // 0-based: the viommu line
    const text = arm("{ model: virtio-iommu, aw-bits: 31, caching-mode: true }", "");
    expect(text.slice(aw.range.start, aw.range.end)).toBe("31");
    const opt = p.diagnostics.find((d) => d.code === "viommu-option")!;
    expect(opt.message).toBe("virtio-iommu has no caching-mode option");
    const intel = parseScenario(arm("{ model: intel, granule: 4k }", ""), "t.yaml");
    expect(intel.diagnostics.find((d) => d.code === "viommu-option")?.message).toBe("intel-iommu has no granule option");
    const bypass = parseScenario(arm("{ model: intel, bypass: true }", ""), "t.yaml");
    expect(bypass.diagnostics.find((d) => d.code === "viommu-option")?.message).toBe("intel-iommu has no bypass option");
  });
});

describe("virtio-iommu: bypass (the guest's identity domain, ATTACH with VIRTIO_IOMMU_ATTACH_F_BYPASS)", () => {
  it("QEMU maps all guest RAM IOVA = GPA at start, DMA to a GPA works without a guest map, and a MAP or UNMAP gets VIRTIO_IOMMU_S_INVAL", () => {
    // The virt machine's RAM starts at GPA 0x4000_0000 (2 GiB here).
    const { outcomes, vm, run: r } = run("{ model: virtio-iommu, bypass: true }", dma("0x4010_0000") + gmap("0x10000", "4KiB", "0x40000000") + gunmap("0x10000", "4KiB") + dma("0xc000_0000"));
    expect(outcomes[0]!.summary).toContain("in bypass");
    expect(outcomes[0]!.summary).toContain("IOVA = GPA");
    expect(outcomes[1]!.status).toBe("ok");
    expect(outcomes[2]).toMatchObject({ status: "error", error: "viommu-rejected" });
    expect(outcomes[2]!.summary).toContain("VIRTIO_IOMMU_S_INVAL");
    expect(outcomes[2]!.summary).toContain("VIRTIO_IOMMU_ATTACH_F_BYPASS");
    expect(outcomes[3]).toMatchObject({ status: "error", error: "viommu-rejected" });
    // Beyond the guest's RAM nothing is mapped: the host SMMU faults.
    expect(outcomes[4]!.status).toBe("fault");
    expect(vm.container!.dmas.reduce((a, d) => a + d.size, 0n)).toBe(2n << 30n);
    expect(vm.viommu!.describe().description).toBe("virtio-iommu · bypass · aw-bits 48");
    expect(r.failedExpectations).toEqual([]);
  });
});

describe("virtio-iommu: MAP and UNMAP through QEMU to VFIO", () => {
  it("a guest map is mapped at once (no invalidation), in iommu_pgsize runs, and DMA reaches guest RAM", () => {
    const { outcomes, vm } = run("{ model: virtio-iommu }", gmap("0x10000", "12KiB", "0x40010000") + dma("0x12000"));
    expect(outcomes.map((o) => o.status)).toEqual(["ok", "ok", "ok"]);
    // iommu_pgsize: 8 KiB then 4 KiB -> two MAP requests, two nodes of QEMU's tree, two VFIO maps.
    expect(vm.viommu!.shadowEntries().map((e) => [e.iova, e.size, e.gpa])).toEqual([
      [0x10000n, 0x2000n, 0x40010000n],
      [0x12000n, 0x1000n, 0x40012000n],
    ]);
    expect(vm.container!.dmas.map((d) => [d.iova, d.size])).toEqual([
      [0x10000n, 0x2000n],
      [0x12000n, 0x1000n],
    ]);
    expect(outcomes[1]!.summary).toContain("2 VFIO_IOMMU_MAP_DMA calls");
  });

  it("invalidate: false changes nothing: QEMU hears the MAP request itself", () => {
    const { outcomes } = run("{ model: virtio-iommu }", `  - guest-map: { vm: a, device: "01:00.0", iova: 0x10000, size: 4KiB, perm: rw, gpa: 0x40000000, invalidate: false }\n` + dma("0x10000"));
    expect(outcomes.map((o) => o.status)).toEqual(["ok", "ok", "ok"]);
  });

  it("an unmap inside a mapping's first page removes the whole mapping (the driver never splits one)", () => {
    const { outcomes, vm } = run("{ model: virtio-iommu }", gmap("0x10000", "8KiB", "0x40010000") + gunmap("0x10000", "4KiB") + dma("0x11000"));
    expect(outcomes[2]!.summary).toBe("unmapped 8 KiB at IOVA 0x10000 (whole mappings: the guest's virtio-iommu driver never splits one, viommu_del_mappings)");
    expect(vm.container!.dmas).toHaveLength(0);
    expect(outcomes[3]!.fault).toBe(0x10); // F_TRANSLATION on the host SMMU
  });

  it("an unmap that starts inside a mapping is never sent: the mapping stays on the host", () => {
    const { outcomes, vm } = run("{ model: virtio-iommu }", gmap("0x10000", "8KiB", "0x40010000") + gunmap("0x11000", "4KiB") + dma("0x11000"));
    expect(outcomes[2]).toMatchObject({ status: "error", error: "viommu-rejected" });
    expect(outcomes[2]!.summary).toContain('"Trying to split a mapping?"');
    expect(vm.container!.dmas).toHaveLength(1);
    expect(outcomes[3]!.status).toBe("ok");
  });

  it("a MAP overlapping a mapping gets VIRTIO_IOMMU_S_INVAL and maps nothing", () => {
    const { outcomes, vm } = run("{ model: virtio-iommu }", gmap("0x10000", "8KiB", "0x40010000") + gmap("0x11000", "8KiB", "0x40100000"));
    expect(outcomes[2]).toMatchObject({ status: "error", error: "viommu-rejected" });
    expect(outcomes[2]!.summary).toContain("VIRTIO_IOMMU_S_INVAL");
    expect(vm.container!.dmas.map((d) => d.iova)).toEqual([0x10000n]);
  });

  it("an Arm guest never maps its reserved MSI window (IOMMU_RESV_SW_MSI at 0x8000000)", () => {
    const { outcomes, vm } = run("{ model: virtio-iommu }", gmap("0x80ff000", "8KiB", "0x40000000"));
    expect(outcomes[1]).toMatchObject({ status: "error", error: "viommu-rejected" });
    expect(outcomes[1]!.summary).toContain("reserved MSI window 0x8000000-0x80fffff");
    expect(vm.container!.dmas).toHaveLength(0);
  });

  it("an x86 guest never maps the APIC range QEMU's PROBE reports as its MSI region (0xfee00000-0xfeefffff); 0x8000000 is no MSI window there", () => {
    const r = runScenario(load(x86("{ model: intel-vtd, address-width: 48 }", "{ model: virtio-iommu }", gmap("0xfee00000", "4KiB", "0x10000000") + gmap("0x8000000", "4KiB", "0x10001000")))).run!;
    expect(r.outcomes[1]).toMatchObject({ status: "error", error: "viommu-rejected" });
    expect(r.outcomes[1]!.summary).toContain("overlaps the guest's reserved MSI region 0xfee00000-0xfeefffff");
    expect(r.outcomes[1]!.summary).toContain("VIRTIO_IOMMU_RESV_MEM_T_MSI");
    expect(r.outcomes[2]!.status).toBe("ok");
    expect(r.machine.vmState("a")!.container!.dmas.map((d) => d.iova)).toEqual([0x8000000n]);
  });

  it("the host's reserved IOVA ranges narrow the guest's: beyond a 39-bit VT-d host's width, and an AMD host's HyperTransport range", () => {
    const vtd = runScenario(load(x86("{ model: intel-vtd, address-width: 39 }", "{ model: virtio-iommu, aw-bits: 48 }", gmap("0x80_0000_0000", "4KiB", "0x10000000") + gmap("0x7f_ffff_f000", "4KiB", "0x10001000")))).run!;
    expect(vtd.outcomes[1]).toMatchObject({ status: "error", error: "viommu-rejected" });
    expect(vtd.outcomes[1]!.summary).toContain("overlaps the IOVAs beyond the host unit's 39-bit address width 0x8000000000-0xffffffffffffffff");
    expect(vtd.outcomes[1]!.summary).toContain("virtio_iommu_set_host_iova_ranges");
    expect(vtd.outcomes[2]!.status).toBe("ok");
    const amd = runScenario(load(x86("{ model: amd-vi, address-width: 48 }", "{ model: virtio-iommu, aw-bits: 48 }", gmap("0xfd_0000_0000", "4KiB", "0x10000000")))).run!;
    expect(amd.outcomes[1]).toMatchObject({ status: "error", error: "viommu-rejected" });
    expect(amd.outcomes[1]!.summary).toContain("overlaps the host's HyperTransport range 0xfd00000000-0xffffffffff (amd_iommu_get_resv_regions HT_RANGE_START");
    expect(amd.machine.vmState("a")!.container!.dmas).toHaveLength(0);
  });

  it("a map not aligned to the granule: the iommu core's line and EINVAL; a granule above the guest's page: ENODEV", () => {
    const a = run("{ model: virtio-iommu }", gmap("0x10800", "4KiB", "0x40000000"));
    expect(a.outcomes[1]).toMatchObject({ status: "errno", errno: "EINVAL" });
    expect(a.outcomes[1]!.summary).toContain("iommu: unaligned: iova 0x10800 pa 0x0000000040000000 size 0x1000 min_pagesz 0x1000");
    const b = run("{ model: virtio-iommu, granule: 64k }", gmap("0x10000", "64KiB", "0x40000000"));
    expect(b.outcomes[1]).toMatchObject({ status: "errno", errno: "ENODEV" });
    expect(b.outcomes[1]!.summary).toContain("granule 0x10000 larger than system page size 0x1000");
  });

  it("property: QEMU's notifications cover each MAP exactly, in naturally aligned power-of-two blocks", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 1n << 24n }), fc.bigInt({ min: 1n, max: 1n << 12n }), fc.bigInt({ min: 0n, max: 1n << 20n }), (page, pages, gpage) => {
        const v = new VirtioIommu({ model: "virtio-iommu", cachingMode: true, range: { start: 0, end: 0, line: 0, column: 0 } }, "q35");
        const maps: ShadowEntry[] = [];
        const iova = page << 12n;
        const size = pages << 12n;
        const r = v.map("d", iova, size, (gpage << 12n) + 0x40000000n, 3, true, 0, { map: (e) => (maps.push(e), true), unmap: () => {} });
        expect(r.refused ?? r.rejected).toBeUndefined();
        let at = iova;
        for (const m of maps) {
          expect(m.iova).toBe(at);
          expect(m.size & (m.size - 1n)).toBe(0n);
          expect(m.iova % m.size).toBe(0n);
          expect(m.gpa - (gpage << 12n) - 0x40000000n).toBe(m.iova - iova);
          at += m.size;
        }
        expect(at).toBe(iova + size);
        const unmapped: bigint[] = [];
        const u = v.unmap("d", iova, size, true, 1, { map: () => true, unmap: (_a, l) => void unmapped.push(l) });
        expect(u.unmapped).toBe(size);
        expect(unmapped.reduce((a, b) => a + b, 0n)).toBe(size);
        expect(v.shadowEntries()).toHaveLength(0);
      }),
    );
  });
});

describe("virtio-iommu: views", () => {
  it("the VM view names the model through the vIOMMU's describe(); no guest tables node, QEMU's mappings are listed", () => {
    const sc = load(arm("{ model: virtio-iommu }", gmap("0x10000", "4KiB", "0x40000000")));
    const r = runScenario(sc).run!;
    const ctx = { machine: r.machine, run: r, scenario: sc, cursor: 2, radix: "hex" as const };
    const vi = treeChildren("vms", "vm/a", ctx)!.find((n) => n.id === "vm/a/viommu")!;
    expect(vi.description).toBe("virtio-iommu · granule 4 KiB · aw-bits 48");
    const kids = treeChildren("vms", "vm/a/viommu", ctx)!;
    expect(kids.map((k) => k.id)).toEqual(["vm/a/viommu/shadow"]);
    expect(treeChildren("vms", kids[0]!.id, ctx)!).toHaveLength(1);
  });

  it("a hover on a guest-unmap's IOVA shows QEMU's mapping (IOVA -> GPA) and the GPA's HPA", async () => {
    const { EngineServer } = await import("../../src/engine/server.js");
    const server = new EngineServer();
    const text = readFileSync(join(root, "examples", "virtio-iommu-arm.passthrough.yaml"), "utf8");
    server.handle("update", { uri: "u", version: 1, text });
    const lines = text.split("\n");
    const line = lines.findIndex((l) => l.includes("guest-unmap") && l.includes("0x10_4000"));
    const h = server.handle("hover", { uri: "u", line, character: lines[line]!.indexOf("0x10_4000") + 3, lineText: lines[line]!, radix: "hex" })!.markdown;
    expect(h).toMatch(/\*\*Guest vIOMMU \(virtio-iommu\): `arm01 00:03\.0` IOVA `0x104000` → GPA `0x40004000`\*\* \(mapping `0x100000` of 64 KiB; before step 6/);
    expect(h).toMatch(/GPA `0x40004000` → HPA/);
  });

  it("no virtio-iommu-specific code in the extension, the webview or the debugger", () => {
    const files = (dir: string): string[] => readdirSync(join(root, dir), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && /\.(ts|tsx|css)$/.test(e.name)).map((e) => join(e.parentPath, e.name));
    for (const f of [...files("src/extension"), ...files("media"), ...files("src/debug")]) expect(readFileSync(f, "utf8"), f).not.toMatch(/virtio/i);
  });
});
