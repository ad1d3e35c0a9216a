/**
 * QEMU's own intel-iommu (vIOMMU) reports, from the QEMU process's stderr or log (reference §4,
 * "Run-time guest-error reports"): the guest's driver programmed its vIOMMU so that a device's
 * DMA cannot be translated. hw/i386/intel_iommu.c prints them with error_report_once ("%s: " is
 * the function, e.g. vtd_iova_to_slpte), then vtd_iommu_translate's summary line, then the
 * fault-recording complaint; the "log" trace backend prints the vtd_dmar_fault trace event as
 * "PID@SECONDS.USEC:vtd_dmar_fault sid 0x%x fault %d addr 0x%x write %d".
 *
 * Real samples (qemu-devel): "vtd_iova_to_slpte: detected slpte permission error (iova=0xfd200000,
 * level=0x2, slpte=0x0, write=0)" with "vtd_iommu_translate: detected translation failure
 * (dev=03:00:00, iova=0xfd200000)" (2020-07, an NVMe behind a vIOMMU); "vtd_iova_to_slpte: detected
 * splte reserve non-zero iova=0xfffff002, level=0x1slpte=0x102681803)" (2021-11, Jason Wang's
 * scalable-mode SNP report; "splte" and the missing separator are QEMU's); "vtd_dmar_fault sid
 * 0xb00 fault 6 addr 0x1187a9000 write 0" (2023-02).
 */
import { faultReasonInfo } from "../../sim/vtd/reasons.js";
import { type Fields, type LineContext, type RuleTable } from "./rule.js";

const HEX = "0x([0-9a-fA-F]+)";
const PASID = `(?:, ?pasid=0x([0-9a-fA-F]+))?`;
/** vtd_iova_to_slpte / vtd_iova_to_flpte: the IOVA above the vIOMMU's address width (aw-bits). */
const IOVA_OVERFLOW = new RegExp(`^(vtd_\\w+): detected IOVA overflow \\(iova=${HEX}${PASID}\\)$`);
/** A table pointer in the guest's tables that is not guest RAM. */
const READ_ERROR = new RegExp(`^(vtd_\\w+): detected read error on DMAR slpte \\(iova=${HEX}${PASID}\\)$`);
/** R or W missing (a not-present entry has neither). */
const PERMISSION = new RegExp(`^(vtd_\\w+): detected slpte permission error \\(iova=${HEX}, level=${HEX}, slpte=${HEX}, write=(\\d)${PASID}\\)$`);
/** Reserved bits set (QEMU's text: "splte", no separator before "slpte"). */
const RESERVED = new RegExp(`^(vtd_\\w+): detected splte reserve non-zero iova=${HEX}, level=${HEX},? ?slpte=${HEX}${PASID}\\)$`);
const NON_CANONICAL = new RegExp(`^(vtd_\\w+): detected non canonical IOVA \\(iova=${HEX}${PASID}\\)$`);
const INTERRUPT_RANGE = new RegExp(`^(vtd_\\w+): xlat address is in interrupt range \\(iova=${HEX}, level=${HEX}, pte=${HEX}, write=(\\d), xlat=${HEX}, size=${HEX}${PASID}\\)$`);
const ROOT_INVALID = new RegExp(`^(vtd_\\w+): invalid root entry: hi=${HEX}, lo=${HEX}$`);
/** Context entries print without "0x" (QEMU's format strings). */
const CONTEXT_INVALID = /^(vtd_\w+): invalid context entry: hi=(?:0x)?([0-9a-fA-F]+), lo=(?:0x)?([0-9a-fA-F]+) \((reserved nonzero|level (\d+) not supported)\)$/;
const TT_UNSUPPORTED = /^(vtd_\w+): (DT|PT) specified but not supported$/;
const TT_UNKNOWN = /^(vtd_\w+): unknown ce type: (\d+)$/;
/** vtd_iommu_translate's summary after any of them: dev=%02x:%02x:%02x (bus:slot:function). */
const TRANSLATION_FAILURE = new RegExp(`^(vtd_\\w+): detected translation failure \\(dev=([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}), iova=${HEX}${PASID}\\)$`);
/** vtd_report_frcd_fault / vtd_report_fault: why the guest's driver never hears of the fault. */
const NOT_RECORDED = /^New fault is not recorded due to (compression of faults|Primary Fault Overflow)$/;
/** The "log" trace backend: "PID@SECONDS.USEC:vtd_dmar_fault sid 0x%x fault %d addr 0x%x write %d". */
const TRACE_DMAR_FAULT = /^(?:\d+@\d+\.\d+:)?vtd_dmar_fault sid 0x([0-9a-fA-F]+) fault (\d+) addr 0x([0-9a-fA-F]+) write (\d)$/;

const hexText = (v: string) => `0x${v.toLowerCase().replace(/^0+(?=.)/, "")}`;
const bdfOf = (bus: string, slot: string, fn: string) => `${bus.toLowerCase()}:${slot.toLowerCase()}.${Number.parseInt(fn, 16)}`;

function emit(cx: LineContext, summary: string, f: Fields): void {
  const q = cx.qemu();
  if (q.program !== undefined) f.program = q.program;
  cx.emit(cx.record("viommu-fault", summary, f));
}

/** A translation-failure summary that follows the report it sums up joins it (the device is named only here). */
function joinFailure(cx: LineContext, device: string, iova: string): boolean {
  const last = cx.last();
  if (last?.kind !== "viommu-fault" || last.fields.iova !== iova || (last.fields.device !== undefined && last.fields.device !== device)) return false;
  if (last.fields.device === undefined) {
    last.fields.device = device;
    last.summary = `${last.summary} (device ${device})`;
  }
  cx.attach();
  return true;
}

function withPasid(f: Fields, pasid: string | undefined): Fields {
  if (pasid !== undefined) f.pasid = Number.parseInt(pasid, 16);
  return f;
}

export const QEMU_VTD_RULES: RuleTable = {
  source: "QEMU intel-iommu (vIOMMU)",
  rules: [
    { pattern: IOVA_OVERFLOW, on: "body", build: (m, cx) => emit(cx, `QEMU's vIOMMU: IOVA ${hexText(m[2]!)} is beyond the vIOMMU's address width (aw-bits)`, withPasid({ problem: "iova-overflow", function: m[1]!, iova: hexText(m[2]!), reason: 0x04 }, m[3])) },
    { pattern: READ_ERROR, on: "body", build: (m, cx) => emit(cx, `QEMU's vIOMMU: a table pointer in the guest's page table for IOVA ${hexText(m[2]!)} is not guest memory`, withPasid({ problem: "slpte-read-error", function: m[1]!, iova: hexText(m[2]!), reason: 0x07 }, m[3])) },
    {
      pattern: PERMISSION,
      on: "body",
      build: (m, cx) => {
        const slpte = BigInt(`0x${m[4]}`);
        const write = m[5] === "1";
        const present = (slpte & 3n) !== 0n;
        const reason = write ? 0x05 : 0x06;
        emit(cx, `QEMU's vIOMMU: the guest's level-${Number.parseInt(m[3]!, 16)} entry for IOVA ${hexText(m[2]!)} ${present ? `does not allow a ${write ? "write" : "read"}` : "is not present"} (slpte ${hexText(m[4]!)})`, withPasid({ problem: "slpte-permission", function: m[1]!, iova: hexText(m[2]!), level: Number.parseInt(m[3]!, 16), slpte: hexText(m[4]!), write, present, reason }, m[6]));
      },
    },
    { pattern: RESERVED, on: "body", build: (m, cx) => emit(cx, `QEMU's vIOMMU: reserved bits set in the guest's level-${Number.parseInt(m[3]!, 16)} entry for IOVA ${hexText(m[2]!)} (slpte ${hexText(m[4]!)})`, withPasid({ problem: "slpte-reserved", function: m[1]!, iova: hexText(m[2]!), level: Number.parseInt(m[3]!, 16), slpte: hexText(m[4]!), reason: 0x0c }, m[5])) },
    { pattern: NON_CANONICAL, on: "body", build: (m, cx) => emit(cx, `QEMU's vIOMMU: IOVA ${hexText(m[2]!)} is not canonical (first-stage translation)`, withPasid({ problem: "non-canonical-iova", function: m[1]!, iova: hexText(m[2]!) }, m[3])) },
    { pattern: INTERRUPT_RANGE, on: "body", build: (m, cx) => emit(cx, `QEMU's vIOMMU: IOVA ${hexText(m[2]!)} translates into the interrupt range (${hexText(m[6]!)})`, withPasid({ problem: "interrupt-range", function: m[1]!, iova: hexText(m[2]!), level: Number.parseInt(m[3]!, 16), slpte: hexText(m[4]!), write: m[5] === "1", hpa: hexText(m[6]!), reason: 0x0e }, m[8])) },
    { pattern: ROOT_INVALID, on: "body", build: (m, cx) => emit(cx, `QEMU's vIOMMU: the guest's root entry has reserved bits set (hi ${hexText(m[2]!)}, lo ${hexText(m[3]!)})`, { problem: "root-entry-invalid", function: m[1]!, hi: hexText(m[2]!), lo: hexText(m[3]!), reason: 0x0a }) },
    {
      pattern: CONTEXT_INVALID,
      on: "body",
      build: (m, cx) => emit(cx, `QEMU's vIOMMU: the guest's context entry is invalid: ${m[5] !== undefined ? `its AW asks for ${m[5]} levels, which the vIOMMU does not support (aw-bits)` : "reserved bits are set"}`, { problem: m[5] !== undefined ? "context-level-unsupported" : "context-entry-reserved", function: m[1]!, hi: hexText(m[2]!), lo: hexText(m[3]!), reason: m[5] !== undefined ? 0x03 : 0x0b, ...(m[5] !== undefined ? { level: Number(m[5]) } : {}) }),
    },
    { pattern: TT_UNSUPPORTED, on: "body", build: (m, cx) => emit(cx, `QEMU's vIOMMU: the guest's context entry asks for ${m[2] === "DT" ? "a device-TLB (T = 1) but device-iotlb is off" : "pass-through (T = 2) but pt is off"}`, { problem: m[2] === "DT" ? "device-tlb-unsupported" : "pass-through-unsupported", function: m[1]!, reason: 0x03 }) },
    { pattern: TT_UNKNOWN, on: "body", build: (m, cx) => emit(cx, `QEMU's vIOMMU: the guest's context entry has the reserved translation type ${m[2]}`, { problem: "context-type-unknown", function: m[1]!, type: Number(m[2]), reason: 0x03 }) },
    {
      pattern: TRANSLATION_FAILURE,
      on: "body",
      build: (m, cx) => {
        const device = bdfOf(m[2]!, m[3]!, m[4]!);
        const iova = hexText(m[5]!);
        if (joinFailure(cx, device, iova)) return;
        emit(cx, `QEMU's vIOMMU could not translate ${device}'s DMA to IOVA ${iova}`, withPasid({ problem: "translation-failure", function: m[1]!, device, iova }, m[6]));
      },
    },
    {
      pattern: NOT_RECORDED,
      on: "body",
      build: (m, cx) => {
        if (cx.lastIs("viommu-fault")) {
          cx.last()!.fields.notRecorded = m[1] === "compression of faults" ? "compressed" : "overflow";
          cx.attach();
          return;
        }
        emit(cx, `QEMU's vIOMMU did not record a fault for the guest: ${m[1] === "compression of faults" ? "the fault recording register already holds a fault of this device (compression)" : "its fault recording registers overflowed (FSTS.PFO)"}`, { problem: "fault-not-recorded", why: m[1] === "compression of faults" ? "compressed" : "overflow" });
      },
    },
    {
      pattern: TRACE_DMAR_FAULT,
      build: (m, cx) => {
        const sid = Number.parseInt(m[1]!, 16);
        const reason = Number(m[2]);
        const device = `${(sid >> 8).toString(16).padStart(2, "0")}:${((sid >> 3) & 0x1f).toString(16).padStart(2, "0")}.${sid & 7}`;
        emit(cx, `QEMU's vIOMMU recorded fault 0x${reason.toString(16).padStart(2, "0")} (${faultReasonInfo(reason).linuxText}) for ${device}'s ${m[4] === "1" ? "write" : "read"} at ${hexText(m[3]!)}`, { problem: "dmar-fault-trace", device, sid, reason, iova: hexText(m[3]!), write: m[4] === "1" });
      },
    },
  ],
};
