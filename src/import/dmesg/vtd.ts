/**
 * Intel VT-d lines (reference §3): DMAR faults in every kernel generation — the ≤4.6 two-line
 * form, 4.7-5.3, 5.4-5.13 with `PASID ffffffff` and decimal reasons, 5.14 with 0x-prefixed BDFs,
 * 5.15+ with NO_PASID / PASID and hex reasons — INTR-REMAP faults, the DRHD status and ratelimit
 * lines before them, and the CONFIG_DMAR_DEBUG page-walk dump after them.
 */
import { dmarGetFaultReason } from "../../sim/vtd/reasons.js";
import { bdfText, hex } from "../records.js";
import { BAD_DEV, badDev, tooWide, type Fields, type LineContext, type RuleTable } from "./rule.js";

const BDF = "(?:0x)?([0-9a-f]{2}):(?:0x)?([0-9a-f]{2})\\.([0-7])";
const PRE = "(?:(?:dmar|DMAR): )?";
// ≤ v4.6 (two lines).
const OLD_DMA_1 = new RegExp(`^${PRE}DMAR:\\[(DMA Read|DMA Write)\\] Request device \\[${BDF}\\] fault addr ([0-9a-f]+) ?$`);
const OLD_DMA_2 = /^(?:(?:dmar|DMAR): )?DMAR:\[fault reason (\d+)\] (.*)$/;
const OLD_IR_1 = new RegExp(`^${PRE}INTR-REMAP: Request device \\[\\[${BDF}\\] fault index ([0-9a-f]+)$`);
const OLD_IR_2 = /^(?:(?:dmar|DMAR): )?INTR-REMAP:\[fault reason (\d+)\] (.*)$/;
// v4.7 .. v5.13 (decimal reason; PASID %x from v5.4, see sim/vtd/dmesg.ts kernelEra).
const MID_DMA = new RegExp(`^${PRE}\\[(DMA Read|DMA Write)\\] Request device \\[${BDF}\\] (?:PASID ([0-9a-f]+) )?fault addr ([0-9a-f]+) \\[fault reason (\\d+)\\] (.*)$`);
// v5.14 and v5.15+ (hex reason; 0x-prefixed BDF in 5.14).
const NEW_DMA = new RegExp(`^${PRE}\\[(DMA Read|DMA Write) (?:NO_PASID|PASID 0x([0-9a-f]+))\\] Request device \\[${BDF}\\] fault addr 0x([0-9a-f]+) \\[fault reason 0x([0-9a-f]+)\\] (.*)$`);
const IR = new RegExp(`^${PRE}\\[INTR-REMAP\\] Request device \\[${BDF}\\] fault index (0x)?([0-9a-f]+) \\[fault reason (0x)?([0-9a-f]+)\\] (.*)$`);
const DRHD = /^(?:(?:dmar|DMAR): )?DRHD: handling fault status reg ([0-9a-f]+)$/;
const SUPPRESSED = /^(\w+): (\d+) callbacks suppressed$/;
/**
 * CONFIG_DMAR_DEBUG page-walk dump, drivers/iommu/intel/iommu.c dmar_fault_dump_ptes() and
 * pgtable_walk() (pr_fmt "DMAR: "), printed after the fault by dmar_fault_do_one(). Both texts:
 *  - v5.17..6.7: "root table entry is not present", "context table entry is not present",
 *    "pasid directory entry is not present", "pasid table entry is not present",
 *    "PTE not present at level %d";
 *  - from commit 6ceb93f952f6 ("iommu/vt-d: Fix some issues in dmar_fault_dump_ptes()", 6.8, and
 *    stable): "root table is not present", "context table is not present", "legacy mode page table
 *    is not present", "pasid directory table is not present", "pasid table is not present",
 *    "scalable mode page table is not present", "page table not present at level %d" (level - 1).
 * Unchanged: "Dump %s table entries for IOVA 0x%llx", "root entry: 0x%016llx",
 * "scalable mode root entry: hi 0x%016llx, low 0x%016llx", "context entry: hi 0x%016llx, low
 * 0x%016llx", "pasid dir entry: 0x%016llx", "pasid table entry[%d]: 0x%016llx",
 * "pte level: %d, pte value: 0x%016llx".
 */
const PTE_DUMP = /^(?:(?:dmar|DMAR): )?(?:Dump \S+ table entries for IOVA 0x[0-9a-f]+|root entry: 0x[0-9a-f]{1,16}|scalable mode root entry: hi 0x[0-9a-f]{1,16}, low 0x[0-9a-f]{1,16}|context entry: hi 0x[0-9a-f]{1,16}, low 0x[0-9a-f]{1,16}|pasid dir entry: 0x[0-9a-f]{1,16}|pasid table entry\[\d\]: 0x[0-9a-f]{1,16}|pte level: \d, pte value: 0x[0-9a-f]{1,16}|page table not present at level -?\d|PTE not present at level \d|(?:root|context) table (?:entry )?is not present|legacy mode page table is not present|pasid directory (?:table|entry) is not present|pasid table (?:entry )?is not present|scalable mode page table is not present)$/;

/** The reason text Linux prints for a VT-d code (for explanations of old two-line records). */
export function vtdReasonText(code: number, scalableTable = true): string {
  return dmarGetFaultReason(code, scalableTable).text;
}

const squash = (x: string) => x.replace(/\s+/g, "");

/** A one-line DMAR fault (4.7 and later); the groups in NEW_DMA's order. */
function dmaFault(cx: LineContext, isNew: boolean, type: string, pasidText: string | undefined, busText: string, devText: string, fnText: string, addrText: string, reasonText: string, printedText: string): void {
  const { t, i } = cx;
  const write = type === "DMA Write";
  const bus = parseInt(busText, 16), dev = parseInt(devText, 16), fn = Number(fnText);
  if (badDev(dev)) return cx.skip(BAD_DEV(dev));
  if (tooWide(addrText)) return cx.skip("fault address wider than 64 bits: not a kernel record");
  const addr = BigInt(`0x${addrText}`);
  const reason = isNew ? parseInt(reasonText, 16) : parseInt(reasonText, 10);
  const era = isNew ? (/\[0x[0-9a-f]{2}:0x/.test(t) ? "5.14" : "5.15+") : pasidText !== undefined ? "5.4-5.13" : "4.7-5.3";
  // dmar_fault_do_one prints dmar_get_fault_reason()'s text: take it from the table; a wrapped
  // line's rest ("access is not set" under "... PTE Read") is joined while it continues that text.
  const table = vtdReasonText(reason, era !== "4.7-5.3");
  let printed = printedText;
  let j = i;
  while (squash(printed) !== squash(table) && squash(table).startsWith(squash(printed)) && j - i < 2 && cx.continues(j)) {
    const next = cx.lines.text(j + 1).trim();
    if (!squash(table).startsWith(squash(printed + next))) break;
    printed = `${printed} ${next}`;
    j++;
  }
  if (squash(printed) === squash(table)) printed = table;
  const fields: Fields = { vendor: "intel", era, device: bdfText(bus, dev, fn), bus, devfn: (dev << 3) | fn, write, address: hex(addr), reason, reasonText: table };
  if (printed !== table) fields.printedReason = printed;
  if (pasidText !== undefined && pasidText !== "ffffffff") fields.pasid = parseInt(pasidText, 16);
  const r = cx.emit(cx.record("dmar-fault", `${write ? "write" : "read"} by ${bdfText(bus, dev, fn)} to IOVA ${hex(addr)} faulted: 0x${reason.toString(16).padStart(2, "0")} ${table}`, fields, j));
  if (j > i) r.context.push({ line: cx.ln.index, text: `(a wrapped record: ${j - i + 1} lines joined)` });
  cx.i = j;
}

/** An INTR-REMAP fault; the ≤4.6 form has its reason on the next line. */
function irFault(cx: LineContext, busText: string, devText: string, fnText: string, index: number, reason: number | undefined, printed: string | undefined, end: number): void {
  const bus = parseInt(busText, 16), dev = parseInt(devText, 16), fn = Number(fnText);
  const fields: Fields = { vendor: "intel", device: bdfText(bus, dev, fn), bus, devfn: (dev << 3) | fn, index };
  let reasonText: string | undefined;
  if (reason !== undefined) {
    fields.reason = reason;
    reasonText = vtdReasonText(reason);
    fields.reasonText = reasonText;
    if (printed !== undefined && printed !== reasonText) fields.printedReason = printed;
  }
  cx.emit(cx.record("intr-remap-fault", `interrupt from ${bdfText(bus, dev, fn)} (IRTE index ${index}) blocked${reason !== undefined ? `: 0x${reason.toString(16)} ${reasonText}` : ""}`, fields, end));
}

export const VTD_RULES: RuleTable = {
  source: "Intel VT-d (DMAR, INTR-REMAP)",
  rules: [
    // v5.14, v5.15+: type, pasid, bus, dev, fn, addr, reason, text.
    { pattern: NEW_DMA, build: (m, cx) => dmaFault(cx, true, m[1]!, m[2], m[3]!, m[4]!, m[5]!, m[6]!, m[7]!, m[8]!) },
    // v4.7 .. v5.13: type, bus, dev, fn, pasid, addr, reason, text.
    { pattern: MID_DMA, build: (m, cx) => dmaFault(cx, false, m[1]!, m[5], m[2]!, m[3]!, m[4]!, m[6]!, m[7]!, m[8]!) },
    {
      // ≤ v4.6: the reason on the next line.
      pattern: OLD_DMA_1,
      build: (m, cx) => {
        const write = m[1] === "DMA Write";
        const bus = parseInt(m[2]!, 16), dev = parseInt(m[3]!, 16), fn = Number(m[4]);
        if (badDev(dev) || tooWide(m[5]!)) return cx.skip(badDev(dev) ? BAD_DEV(dev) : "fault address wider than 64 bits: not a kernel record");
        const addr = BigInt(`0x${m[5]}`);
        const next = cx.messageAt(cx.i + 1);
        const m2 = next !== undefined ? OLD_DMA_2.exec(next) : null;
        const fields: Fields = { vendor: "intel", era: "≤4.6", device: bdfText(bus, dev, fn), bus, devfn: (dev << 3) | fn, write, address: hex(addr) };
        if (m2) {
          fields.reason = parseInt(m2[1]!, 10);
          fields.reasonText = vtdReasonText(fields.reason, false);
          if (m2[2] !== fields.reasonText) fields.printedReason = m2[2]!;
          cx.i++;
        }
        const ln = cx.ln.index;
        cx.emit(cx.record("dmar-fault", `${write ? "write" : "read"} by ${bdfText(bus, dev, fn)} to IOVA ${hex(addr)} faulted${m2 ? `: 0x${Number(fields.reason).toString(16).padStart(2, "0")} ${fields.reasonText}` : " (the reason line is missing)"}`, fields, m2 ? ln + 1 : ln));
      },
    },
    {
      pattern: IR,
      build: (m, cx) => {
        if (badDev(parseInt(m[2]!, 16))) return cx.skip(BAD_DEV(parseInt(m[2]!, 16)));
        irFault(cx, m[1]!, m[2]!, m[3]!, parseInt(m[5]!, 16), m[6] ? parseInt(m[7]!, 16) : parseInt(m[7]!, 10), m[8], cx.ln.index);
      },
    },
    {
      // ≤ v4.6: the reason on the next line.
      pattern: OLD_IR_1,
      build: (m, cx) => {
        if (badDev(parseInt(m[2]!, 16))) return cx.skip(BAD_DEV(parseInt(m[2]!, 16)));
        const next = cx.messageAt(cx.i + 1);
        const m2 = next !== undefined ? OLD_IR_2.exec(next) : null;
        if (m2) cx.i++;
        irFault(cx, m[1]!, m[2]!, m[3]!, parseInt(m[4]!, 16), m2 ? parseInt(m2[1]!, 10) : undefined, m2 ? m2[2]! : undefined, m2 ? cx.ln.index + 1 : cx.ln.index);
      },
    },
    {
      pattern: DRHD,
      build: (m, cx) => {
        const fsts = parseInt(m[1]!, 16);
        cx.before(`${cx.t} (FSTS: ${[fsts & 1 ? "PFO fault overflow" : "", fsts & 2 ? "PPF primary fault pending" : "", fsts & 0x10 ? "IQE" : ""].filter(Boolean).join(", ") || "no fault bits"})`);
      },
    },
    { pattern: SUPPRESSED, build: (m, cx) => cx.before(`${cx.t}: ${m[2]} more messages of ${m[1]} were dropped by the ratelimit`) },
    { pattern: PTE_DUMP, when: (cx) => cx.lastIs("dmar-fault"), build: (_m, cx) => cx.attach() },
  ],
};
