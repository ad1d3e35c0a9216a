/**
 * The documented JSON form of decoded evidence (`passthrough decode --json`):
 *   { "records": [...], "skipped": [...] } for logs and traces; each record has file, line,
 *   source (vtd | amd-vi | smmuv3 | smmuv2 | vfio | rmrr | kernel | ftrace), type (dma-read,
 *   dma-write, intr-remap, IO_PAGE_FAULT, F_TRANSLATION, context-fault, group-not-viable, map,
 *   unmap, ...), bdf as SSSS:BB:DD.F or null, address as lower-case 0x hex or null, reason as a
 *   number or null (VT-d fault reason, AMD-Vi event code, SMMUv3 event id, SMMUv2 FSR), reasonText,
 *   pasid (number or null), and the source-specific fields.
 *   Configurations: { "groups": [{ group, devices: [...] }] }, { "topology": { devices: [...] } }
 *   (lspci), { "vm": {...} } (libvirt XML, QEMU command line; vm.hostdevs and vm.viommus are arrays
 *   of objects, see the README), each with "skipped".
 */
import { formatBdf, parseBdf } from "../sim/bdf.js";
import { faultReasonInfo } from "../sim/vtd/reasons.js";
import type { EvidenceRecord, Skipped } from "./records.js";
import { SMMU_EVENTS, amdPageFaultFlags } from "./dmesg.js";

/** AMD-Vi event codes (reference §4.1). */
const AMD_CODES: Record<string, number> = { ILLEGAL_DEV_TABLE_ENTRY: 1, IO_PAGE_FAULT: 2, DEV_TAB_HARDWARE_ERROR: 3, PAGE_TAB_HARDWARE_ERROR: 4, ILLEGAL_COMMAND_ERROR: 5, COMMAND_HARDWARE_ERROR: 6, IOTLB_INV_TIMEOUT: 7, INVALID_DEVICE_REQUEST: 8, INVALID_PPR_REQUEST: 9, RMP_PAGE_FAULT: 0xd, RMP_HW_ERROR: 0xe };

/** "SSSS:BB:DD.F" of a device key (sim/bdf.ts), or null when it is not a BDF. */
export function fullBdf(key: unknown): string | null {
  if (typeof key !== "string") return null;
  const p = parseBdf(key);
  return p.ok ? formatBdf(p.bdf, "always") : null;
}

const addr = (v: unknown): string | null => {
  if (typeof v !== "string" || !/^0x[0-9a-f]+$/i.test(v)) return null;
  return `0x${BigInt(v).toString(16)}`;
};

export type JsonRecord = Record<string, unknown> & { file: string; line: number; source: string; type: string; bdf: string | null; address: string | null; reason: number | null; reasonText: string | null; pasid: number | null };

export function recordToJson(r: EvidenceRecord, file: string): JsonRecord {
  const f = r.fields;
  // Each record's properties go into base with Object.assign: the same keys in the same order as
  // { ...base, ... }, but an object literal that starts with a spread took V8 (Node 20) ~50 µs a
  // record (most of a 100 MB decode's JSON output time); Object.assign, about 1 µs.
  const base = { file, line: r.line + 1, endLine: r.endLine + 1, timestamp: r.timestamp ?? null, summary: r.summary, context: r.context.map((c) => ({ line: c.line + 1, text: c.text })) };
  const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "string" && /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : null);
  switch (r.kind) {
    case "dmar-fault":
      return Object.assign(base, { source: "vtd", type: f.write ? "dma-write" : "dma-read", bdf: fullBdf(f.device), address: addr(f.address), reason: num(f.reason), reasonText: typeof f.reasonText === "string" ? f.reasonText : null, pasid: typeof f.pasid === "number" ? f.pasid : null, era: f.era, ...(typeof f.printedReason === "string" ? { printedReason: f.printedReason } : {}) });
    case "intr-remap-fault":
      return Object.assign(base, { source: "vtd", type: "intr-remap", bdf: fullBdf(f.device), address: null, reason: num(f.reason), reasonText: typeof f.reasonText === "string" ? f.reasonText : null, pasid: null, index: f.index });
    case "amdvi-event": {
      const flags = num(f.flags);
      return Object.assign(base, {
        source: "amd-vi", type: String(f.event), bdf: fullBdf(f.device), address: addr(f.address), reason: AMD_CODES[String(f.event)] ?? null, reasonText: typeof f.message === "string" ? f.message : String(f.event), pasid: num(f.pasid),
        domain: num(f.domain),
        // IO_PAGE_FAULT: every flag bit by name; other events: the two bits Linux tests (EVENT_FLAG_RW, EVENT_FLAG_I).
        flags: flags === null ? null : f.event === "IO_PAGE_FAULT" ? { value: flags, ...amdPageFaultFlags(flags) } : { value: flags, write: (flags & 0x20) !== 0, interrupt: (flags & 0x08) !== 0 },
        driver: f.driver ?? null,
      });
    }
    case "smmuv3-event": {
      const id = typeof f.id === "number" ? f.id : Number(Object.entries(SMMU_EVENTS).find(([, n]) => n === f.event)?.[0] ?? NaN);
      // Only the fields the event record has (SMMUv3 7.3): C_BAD_STREAMID has no address and no direction; the fetch faults have fetch_addr instead of an input address.
      return Object.assign(base, { source: "smmuv3", type: String(f.event), bdf: fullBdf(typeof f.client === "string" ? f.client : undefined), address: addr(f.iova), reason: Number.isNaN(id) ? null : id, reasonText: String(f.event), pasid: f.ssv === false || f.ssid === 0 ? null : num(f.ssid), streamId: num(f.sid), ssid: num(f.ssid), eventId: Number.isNaN(id) ? null : id, write: f.write ?? null, stage: f.stage ?? null, class: f.class ?? null, fetchAddr: addr(f.fetchAddr), ipa: addr(f.ipa) });
    }
    case "smmuv2-fault":
      return Object.assign(base, { source: "smmuv2", type: "context-fault", bdf: null, address: addr(f.iova), reason: num(f.fsr), reasonText: String(f.faults), pasid: null, streamId: num(f.streamId), cb: f.cb, fsr: f.fsr, fsynr: f.fsynr, write: f.write });
    case "viommu-fault":
      // QEMU's vIOMMU: the reason is the VT-d code QEMU records for the guest (reasons.ts), when the report has one.
      return Object.assign(base, f, { source: "qemu-vtd", type: String(f.problem), bdf: fullBdf(f.device), address: addr(f.iova), reason: typeof f.reason === "number" ? f.reason : null, reasonText: typeof f.reason === "number" ? faultReasonInfo(f.reason).linuxText : null, pasid: typeof f.pasid === "number" ? f.pasid : null });
    case "vfio-message":
      return Object.assign(base, f, { source: "vfio", type: String(f.problem), bdf: fullBdf(f.device), address: addr(f.iova), reason: typeof f.errnoNumber === "number" ? f.errnoNumber : null, reasonText: typeof f.error === "string" ? f.error : null, pasid: null });
    case "rmrr":
      return Object.assign(base, f, { source: "rmrr", type: String(f.problem), bdf: fullBdf(f.device), address: addr(f.base), reason: null, reasonText: null, pasid: null });
    case "group-add":
      return Object.assign(base, { source: "kernel", type: "group-add", bdf: fullBdf(f.device), address: null, reason: null, reasonText: null, pasid: null, group: f.group });
    case "ftrace":
      return Object.assign(base, { source: "ftrace", type: String(f.event), bdf: fullBdf(f.device), address: addr(f.iova), reason: null, reasonText: null, pasid: null, ...f, iova: undefined });
    case "device-event":
      // The event's own fields after the documented ones, which they never override.
      return Object.assign(base, f, { source: "pci", type: String(f.event), bdf: fullBdf(f.device), address: null, reason: null, reasonText: null, pasid: null });
    case "boot-state":
      return Object.assign(base, f, { source: "kernel", type: `boot-${String(f.fact)}`, bdf: fullBdf(f.device), address: null, reason: null, reasonText: null, pasid: null });
    case "vtd-debugfs":
      // The line's own fields after the documented ones; address: the table it names (root table, a device's page table).
      return Object.assign(base, f, { source: "debugfs", type: `debugfs-${String(f.part)}`, bdf: fullBdf(f.device), address: addr(f.part === "domain" ? f.pgd : f.part === "root-table" ? f.address : undefined), reason: null, reasonText: null, pasid: typeof f.pasid === "number" && f.pasid >= 0 ? f.pasid : null });
    default:
      return Object.assign(base, { source: r.kind, type: r.kind, bdf: fullBdf(f.device), address: null, reason: null, reasonText: null, pasid: null, ...f });
  }
}

/** Configurations as one object (groups, topology or vm). */
export function configToJson(records: EvidenceRecord[], skipped: Skipped[], file: string): Record<string, unknown> {
  const sk = skipped.map((s) => ({ line: s.line + 1, endLine: s.endLine + 1, reason: s.reason }));
  if (records.some((r) => r.kind === "iommu-group")) {
    const groups = new Map<number, unknown[]>();
    for (const r of records) {
      if (r.kind !== "iommu-group") continue;
      const g = Number(r.fields.group);
      const { group: _g, device, ...rest } = r.fields;
      void _g;
      groups.set(g, [...(groups.get(g) ?? []), { bdf: fullBdf(device), line: r.line + 1, ...rest }]);
    }
    return { file, groups: [...groups].sort((a, b) => a[0] - b[0]).map(([group, devices]) => ({ group, devices })), skipped: sk };
  }
  if (records.some((r) => r.kind === "pci-device")) {
    return { file, topology: { devices: records.filter((r) => r.kind === "pci-device").map((r) => ({ bdf: fullBdf(r.fields.device), line: r.line + 1, ...r.fields, device: undefined })) }, skipped: sk };
  }
  // Each assigned device and each vIOMMU is an object with its own options (README "decode --json").
  const hostdevs: Record<string, unknown>[] = [];
  const viommus: Record<string, unknown>[] = [];
  const vm: Record<string, unknown> = { hostdevs };
  for (const r of records) {
    if (r.kind !== "vm-config") continue;
    const f = r.fields;
    vm.source = f.source;
    if (typeof f.hostdev === "string") {
      const { hostdev, source: _s, id, ...rest } = f;
      void _s;
      // QEMU's -device id= is what libvirt calls the alias.
      hostdevs.push({ bdf: fullBdf(hostdev), line: r.line + 1, managed: typeof rest.managed === "boolean" ? rest.managed : null, alias: rest.alias ?? id ?? null, driver: rest.driver ?? (f.source === "qemu" ? "vfio" : null), ...rest });
      continue;
    }
    if (typeof f.viommu === "string" && f.viommu && !("machine" in f)) {
      const { viommu, source: _s, ...rest } = f;
      void _s;
      viommus.push({ model: viommu, line: r.line + 1, ...rest });
      continue;
    }
    for (const [k, v] of Object.entries(f)) {
      if (k === "source" || k === "viommu") continue;
      vm[k] = k === "memory" || k === "memlock" ? Number(v) : v;
    }
    // -M virt,iommu=smmuv3: the machine's own vIOMMU.
    if (typeof f.viommu === "string" && f.viommu) viommus.push({ model: f.viommu, line: r.line + 1, machineOption: true });
  }
  vm.viommus = viommus;
  // `viommu`: the first vIOMMU's model, for a quick look (-M virt,iommu=smmuv3 and a virtio-iommu-pci are two).
  if (viommus.length) vm.viommu = viommus[0]!.model;
  // A libvirt qemu log has QEMU's errors after the command line: they are records.
  const logRecords = records.filter((r) => r.kind !== "vm-config");
  return { file, vm, ...(logRecords.length ? { records: logRecords.map((r) => recordToJson(r, file)) } : {}), skipped: sk };
}
