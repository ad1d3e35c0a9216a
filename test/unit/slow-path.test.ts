// The DMA Trace's walk pane for a row without a walk (traceSlowPath, engine/slowPath.ts): each
// host model names its own commands and entries, so an SMMUv3 invalidate row is the Arm command it
// was, not "an invalidation descriptor" (what the pane said for every model before).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import { EventKind } from "../../src/trace/trace.js";

const read = (name: string) => readFileSync(join(__dirname, "..", "..", "examples", `${name}.passthrough.yaml`), "utf8");

/** Every slow-path answer of the example's trace, by event kind. */
function answers(example: string) {
  const s = new EngineServer();
  s.handle("update", { uri: "u", version: 1, text: read(example) });
  const page = s.handle("tracePage", { uri: "u", filter: {}, start: 0, count: 4096, compare: false });
  const p = { count: page.count, columns: page.columns as unknown as Record<"kind" | "index", ArrayLike<number>> };
  const out: { kind: EventKind; text: string; command?: { name: string; words: string[] }; cause?: { step: number; text: string } }[] = [];
  for (let k = 0; k < p.count; k++) {
    const kind = p.columns.kind[k]! as EventKind;
    if (kind === EventKind.Dma || kind === EventKind.Interrupt) continue;
    out.push({ kind, ...s.handle("traceSlowPath", { uri: "u", event: p.columns.index[k]! }) });
  }
  return { out, server: s };
}

const commands = (a: ReturnType<typeof answers>["out"]) => [...new Set(a.filter((x) => x.kind === EventKind.Invalidate).map((x) => x.command?.name))].sort();

describe("a slow-path row in the model's words", () => {
  it("VT-d: invalidation descriptors by their type, from the invalidation queue; the context entry", () => {
    const { out } = answers("device-tlb-stale");
    expect(commands(out)).toEqual(["Context-cache Invalidation", "Device-TLB Invalidation", "IOTLB Invalidation"]);
    const iotlb = out.find((x) => x.command?.name === "IOTLB Invalidation")!;
    expect(iotlb.text).toBe("The DMAR unit processed IOTLB Invalidation from the invalidation queue (VT-d spec 6.5.2).");
    // The descriptor's two qwords as the trace holds them; type 2 in bits 3:0.
    expect(iotlb.command!.words).toHaveLength(2);
    expect(BigInt(iotlb.command!.words[0]!) & 0xfn).toBe(2n);
    expect(out.find((x) => x.kind === EventKind.Attach)!.text).toMatch(/^Context entry written/);
  });

  it("AMD-Vi: commands by the spec's names, from the command buffer; the DTE", () => {
    const { out } = answers("amd-ppr-page-request");
    expect(commands(out)).toEqual(["COMPLETE_PPR_REQUEST", "INVALIDATE_DEVTAB_ENTRY", "INVALIDATE_IOMMU_PAGES", "INVALIDATE_IOTLB_PAGES"]);
    expect(out.find((x) => x.command?.name === "INVALIDATE_IOMMU_PAGES")!.text).toBe("The IOMMU processed INVALIDATE_IOMMU_PAGES from the command buffer (AMD IOMMU spec 2.4).");
    expect(answers("amd-io-page-fault").out.find((x) => x.kind === EventKind.Attach)!.text).toMatch(/^DTE written/);
  });

  it("SMMUv3: CMD_* by opcode, from the command queue; the STE", () => {
    const { out } = answers("smmuv3-pasid-ats");
    expect(commands(out)).toEqual(["CMD_ATC_INV", "CMD_CFGI_CD", "CMD_CFGI_STE", "CMD_PRI_RESP", "CMD_TLBI_NH_ASID"]);
    expect(out.find((x) => x.command?.name === "CMD_ATC_INV")!.text).toBe("The SMMU processed CMD_ATC_INV from the command queue (SMMUv3 spec 4).");
    expect(out.find((x) => x.kind === EventKind.Attach)!.text).toMatch(/^STE written/);
    expect(out.some((x) => /invalidation descriptor/.test(x.text))).toBe(false);
  });

  it("a host mapping made for a guest vIOMMU names the guest step in that vIOMMU's words", () => {
    // intel-iommu in caching mode: the guest wrote the entry steps before its invalidation reached QEMU.
    const intel = answers("viommu-late-shadow").out.filter((x) => x.cause);
    expect(intel.length).toBeGreaterThan(0);
    expect(intel.some((x) => /without invalidating it; QEMU only shadowed it when the guest's IOTLB invalidation/.test(x.cause!.text))).toBe(true);
    // virtio-iommu: the MAP / UNMAP request itself, passed to VFIO at once; no IOTLB invalidation.
    const virtio = answers("virtio-iommu-arm").out.filter((x) => x.cause);
    expect(virtio.some((x) => x.kind === EventKind.Map && /virtio-iommu driver sent a MAP request in this step \(guest-map\)/.test(x.cause!.text))).toBe(true);
    expect(virtio.some((x) => x.kind === EventKind.Unmap && /sent an UNMAP request/.test(x.cause!.text))).toBe(true);
    expect(virtio.some((x) => /IOTLB invalidation|vtd_/.test(x.cause!.text))).toBe(false);
  });

  it("a VM start is the model's own account of it; an event number outside the trace is a bad-params error", () => {
    const { out, server } = answers("dma-after-unmap");
    expect(out.find((x) => x.kind === EventKind.VmStart)!.text).toMatch(/^VM \S+ started/);
    expect(() => server.handle("traceSlowPath", { uri: "u", event: 1e9 })).toThrow(/no event #1000000000/);
  });
});
