/**
 * Semantic checks across the parsed scenario: references between steps, VMs and devices, and the
 * mistakes VFIO or the IOMMU would punish (unaligned maps, the MSI window, overlapping maps,
 * addresses beyond the address width). (Group viability needs the PCI model: sim/pci.ts
 * groupViabilityWarnings, reported with the machine's diagnostics.) A warning is dropped when the step's `expect` names the
 * very errno or fault the mistake produces: then the scenario demonstrates it on purpose.
 */
import { Ticker, type ParseOptions } from "./parse.js";
import type { Diagnostic, DiagnosticCode, Scenario, SourceRange, Step } from "./types.js";

const PAGE = 4096n;
const MSI_FIRST = 0xfee00000n;
const MSI_LAST = 0xfeefffffn;

export function validateScenario(s: Scenario, opts: ParseOptions = {}): Diagnostic[] {
  const ticker = new Ticker(opts.progress);
  const out: Diagnostic[] = [];
  const vms = new Map(s.vms.map((v) => [v.name, v]));
  const devices = new Set(s.host.pci.map((d) => d.key));
  const aw = BigInt(s.host.iommu.addressWidth);
  const limit = 1n << aw;
  const mapped = new Map<string, MapList>();
  let seq = 0;
  const add = (severity: Diagnostic["severity"], range: SourceRange, code: DiagnosticCode, message: string, hint: string) => out.push({ severity, code, message, hint, range });
  const expects = (st: Step, errno?: string, fault?: number) => (errno !== undefined && st.expect?.errno === errno) || (fault !== undefined && st.expect?.fault === fault) || st.expect?.error !== undefined;

  for (const st of s.workload) {
    ticker.tick();
    if ("vm" in st) {
      const vm = vms.get(st.vm);
      if (vm === undefined) add("error", st.range, "unknown-vm", `no VM named "${st.vm}"`, s.vms.length ? `Defined VMs: ${s.vms.map((v) => v.name).join(", ")}.` : "Define it under vms:.");
      else if ((st.op === "guest-map" || st.op === "guest-unmap") && !vm.viommu) add("error", st.range, "no-viommu", `VM ${vm.name} has no vIOMMU, so the guest cannot map IOVAs`, "Add viommu: { model: intel, caching-mode: true } to the VM, or use map: (the VMM's VFIO_IOMMU_MAP_DMA).");
    }
    if ("device" in st && st.device !== undefined && !devices.has(st.device)) add("error", st.range, "unknown-device", `${st.device} is not a device in host.pci`, "Add it to host.pci or fix the BDF.");
    if (st.op === "poke" && st.target && !devices.has(st.target.device)) add("error", st.range, "unknown-device", `${st.target.device} is not a device in host.pci`, "Add it to host.pci or fix the BDF.");

    if (st.op === "map" || st.op === "guest-map") {
      const gpa = st.op === "map" ? st.gpa : st.gpa;
      if (((st.iova | st.size | (gpa ?? 0n)) % PAGE !== 0n || st.size === 0n) && !expects(st, "EINVAL")) {
        const down = st.iova - (st.iova % PAGE);
        add("warning", st.range, "map-unaligned", `iova 0x${st.iova.toString(16)} / size 0x${st.size.toString(16)}${gpa !== undefined ? ` / gpa 0x${gpa.toString(16)}` : ""} is not 4 KiB aligned; VFIO_IOMMU_MAP_DMA returns EINVAL`, `VFIO maps whole 4 KiB pages: use iova 0x${down.toString(16)} and a size that is a multiple of 4KiB.`);
      }
      if (st.iova <= MSI_LAST && st.iova + st.size - 1n >= MSI_FIRST && !expects(st, "EINVAL")) add("warning", st.range, "map-interrupt-window", "the range overlaps the MSI window 0xfee00000-0xfeefffff; VFIO returns EINVAL for this reserved region", "Map IOVAs outside 0xfee00000-0xfeefffff; that window carries interrupts.");
      if (st.iova + st.size > limit && !expects(st, "EINVAL")) add("warning", st.range, "address-beyond-aw", `the range ends beyond 2^${aw} (the IOMMU's address width); VFIO returns EINVAL`, `Keep IOVAs below 0x${limit.toString(16)} or raise host.iommu.address-width.`);
      let list = mapped.get(st.vm);
      if (list === undefined) mapped.set(st.vm, (list = new MapList()));
      const hit = list.firstOverlap(st.iova, st.size);
      if (hit && !expects(st, "EEXIST")) add("warning", st.range, "map-overlap", `overlaps the mapping made at line ${hit.line}; VFIO returns EEXIST`, "Unmap the earlier range first, or map a range that does not overlap it.");
      list.add({ iova: st.iova, size: st.size, line: st.range.line + 1, seq: seq++ });
    }
    if (st.op === "unmap" || (st.op === "guest-unmap" && st.invalidate)) mapped.get(st.vm)?.removeWithin(st.iova, st.size);
    if (st.op === "stop") mapped.delete(st.vm);
    if ((st.op === "dma" || st.op === "translate") && st.iova >= limit && !expects(st, undefined, 0x04)) {
      add("warning", st.range, "address-beyond-aw", `IOVA 0x${st.iova.toString(16)} is beyond 2^${aw}: the IOMMU faults 0x04 "Access beyond MGAW"`, "Add expect: { fault: 0x04 } if that is the point, or use a smaller IOVA.");
    }
  }
  return out;
}

/** Mappings looked at by the overlap checks (for tests that check the work stays linear). Only ever incremented. */
export const overlapWork = { visited: 0 };

interface Mapped {
  iova: bigint;
  size: bigint;
  line: number;
  /** Order of the map steps: the first overlapping mapping made is the one a warning names. */
  seq: number;
}

/**
 * A VM's mappings, sorted by IOVA, for the overlap check of each map step. A linear scan per map
 * was quadratic in the number of maps (a 512-map scenario spent a third of its re-validation in
 * it, on every edit). A mapping that overlaps [iova, iova + size) starts before iova + size and
 * after iova - (the largest size seen), so only that slice of the sorted list is looked at; of the
 * overlapping ones the earliest made is reported, as the scan in map order did.
 */
class MapList {
  private readonly list: Mapped[] = [];
  private maxSize = 0n;

  /** Index of the first mapping whose IOVA is greater than `iova`. */
  private upper(iova: bigint): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.list[mid]!.iova > iova) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  firstOverlap(iova: bigint, size: bigint): Mapped | undefined {
    let hit: Mapped | undefined;
    const end = iova + size;
    for (let i = this.upper(iova - this.maxSize); i < this.list.length; i++) {
      const m = this.list[i]!;
      overlapWork.visited++;
      if (m.iova >= end) break;
      if (iova < m.iova + m.size && (hit === undefined || m.seq < hit.seq)) hit = m;
    }
    return hit;
  }

  add(m: Mapped): void {
    if (m.size > this.maxSize) this.maxSize = m.size;
    this.list.splice(this.upper(m.iova), 0, m);
  }

  /**
   * An unmap removes the mappings that lie wholly inside its range: those start in [iova, end), a
   * slice of the sorted list found by binary search (a scan of the whole list per unmap was
   * quadratic in a workload of many maps and unmaps).
   */
  removeWithin(iova: bigint, size: bigint): void {
    const end = iova + size;
    const lo = this.upper(iova - 1n);
    let hi = lo;
    let j = lo;
    for (; hi < this.list.length && this.list[hi]!.iova < end; hi++) {
      overlapWork.visited++;
      const m = this.list[hi]!;
      if (m.iova + m.size > end) this.list[j++] = m;
    }
    if (j < hi) this.list.splice(j, hi - j);
  }
}
