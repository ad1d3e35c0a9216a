/**
 * Kernel and VMM log text (dmesg, journalctl, syslog, a QEMU stderr) -> IOMMU records:
 * Intel DMAR faults in every kernel generation (reference §3: the ≤4.6 two-line form, 4.7-5.4,
 * 5.5-5.13 with `PASID ffffffff` and decimal reasons, 5.14 with 0x-prefixed BDFs, 5.15+ with
 * NO_PASID / PASID and hex reasons), INTR-REMAP faults, AMD-Vi events (§4.2, all eras, with and
 * without the device prefix), Arm SMMUv3 events (raw dump and the decoded lines, §5.3) and SMMUv2
 * context faults (§5.5), VFIO / QEMU / RMRR messages (§6, §7). Context lines attach to records.
 * Pure, line by line, bounded work per line.
 */
import { dmarGetFaultReason } from "../sim/vtd/reasons.js";
import { MAX_LINE, messageOf, splitLines, type Line } from "./lines.js";
import { SkipList, bdfText, hex, parseBdf, type EvidenceRecord, type ImportResult } from "./records.js";

const BDF = "(?:0x)?([0-9a-f]{2}):(?:0x)?([0-9a-f]{2})\\.([0-7])";
const PRE = "(?:(?:dmar|DMAR): )?";
// ≤ v4.6 (two lines).
const OLD_DMA_1 = new RegExp(`^${PRE}DMAR:\\[(DMA Read|DMA Write)\\] Request device \\[${BDF}\\] fault addr ([0-9a-f]+) ?$`);
const OLD_DMA_2 = /^(?:(?:dmar|DMAR): )?DMAR:\[fault reason (\d+)\] (.*)$/;
const OLD_IR_1 = new RegExp(`^${PRE}INTR-REMAP: Request device \\[\\[${BDF}\\] fault index ([0-9a-f]+)$`);
const OLD_IR_2 = /^(?:(?:dmar|DMAR): )?INTR-REMAP:\[fault reason (\d+)\] (.*)$/;
// v4.7 .. v5.13 (decimal reason; PASID %x from v5.5).
const MID_DMA = new RegExp(`^${PRE}\\[(DMA Read|DMA Write)\\] Request device \\[${BDF}\\] (?:PASID ([0-9a-f]+) )?fault addr ([0-9a-f]+) \\[fault reason (\\d+)\\] (.*)$`);
// v5.14 and v5.15+ (hex reason; 0x-prefixed BDF in 5.14).
const NEW_DMA = new RegExp(`^${PRE}\\[(DMA Read|DMA Write) (?:NO_PASID|PASID 0x([0-9a-f]+))\\] Request device \\[${BDF}\\] fault addr 0x([0-9a-f]+) \\[fault reason 0x([0-9a-f]+)\\] (.*)$`);
const IR = new RegExp(`^${PRE}\\[INTR-REMAP\\] Request device \\[${BDF}\\] fault index (0x)?([0-9a-f]+) \\[fault reason (0x)?([0-9a-f]+)\\] (.*)$`);
const DRHD = /^(?:(?:dmar|DMAR): )?DRHD: handling fault status reg ([0-9a-f]+)$/;
const SUPPRESSED = /^(\w+): (\d+) callbacks suppressed$/;
// CONFIG_DMAR_DEBUG dmar_fault_dump_ptes() and its helpers.
const PTE_DUMP = /^(?:(?:dmar|DMAR): )?(?:pte level: \d+, pte value: 0x[0-9a-f]+|root entry: 0x[0-9a-f]+|context entry: hi 0x[0-9a-f]+, lo 0x[0-9a-f]+|scalable mode root entry: hi 0x[0-9a-f]+, lo 0x[0-9a-f]+|pasid dir entry: 0x[0-9a-f]+|pasid table entry\[\d+\]: 0x[0-9a-f]+|Dump \S+ table entries for IOVA 0x[0-9a-f]+|PTE not present at level \d+|No PASID directory|No pasid table|PASID directory entry not present|pasid table entry is not present)$/;

// AMD-Vi (reference §4.2).
const AMD_EVENT = /^(?:(\S+) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|ivhd\d+|[\w.:-]+): )?AMD-Vi: Event logged \[([A-Z_]+)(?: (.*?))?\]$/;
/** The same without the closing bracket (a truncated line), tried only after joining a wrap failed. */
const AMD_EVENT_OPEN = /^(?:(\S+) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|ivhd\d+|[\w.:-]+): )?AMD-Vi: Event logged \[([A-Z_]+)(?: (.*?))?$/;
const AMD_DUMP = /^(?:AMD-Vi: )?(?:DTE\[\d\]: [0-9a-f]{16}|CMD\[\d\]: [0-9a-f]{8})$/;
const AMD_OVERFLOW = /^(?:AMD-Vi: )?IOMMU event log overflow$/;
const AMD_NOT_ATTACHED = /^\s*device=([0-9a-f]{4}:)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) domain=0x([0-9a-f]+)$/;

// Arm SMMUv3 and SMMUv2 (reference §5.3, §5.5).
const SMMU_EVENT = /^(arm-smmu-v3 \S+|[\w.:-]+ [\w.:-]+): event 0x([0-9a-f]{2}) received:$/;
const SMMU_RAW = /^(arm-smmu-v3 \S+|[\w.:-]+ [\w.:-]+):\s+0x([0-9a-f]{16})$/;
const SMMU_DECODED = /^(?:arm-smmu-v3 \S+: )?event: (\S+) client: (.+?) sid: (0x[0-9a-f]+|0) ssid: (0x[0-9a-f]+|0)(?: iova: (0x[0-9a-f]+|0) ipa: (0x[0-9a-f]+|0)| fetch_addr: (0x[0-9a-f]+|0))?$/;
const SMMU_DECODED_2 = /^(?:arm-smmu-v3 \S+: )?(priv|unpriv) (inst|data) (read|write) (s2|s1) "(.*)"( ttd_read| ttd_write)?( stall)? stag: (0x[0-9a-f]+|0)$/;
const SMMU_OVERFLOW = /^(?:arm-smmu-v3 \S+: )?EVTQ overflow detected -- events lost$/;
const SMMU2 = /(?:^|\s)Unhandled context fault: fsr=0x([0-9a-f]+), iova=0x([0-9a-f]+), fsynr=0x([0-9a-f]+)(?:, cbfrsynra=0x([0-9a-f]+))?, cb=(\d+)$/;
/** The register dump newer kernels print after a context fault (arm_smmu_print_context_fault_info). */
const SMMU2_DUMP = /(?:^|\s)(?:FSR\s+= [0-9a-f]{8} \[|FSYNR[01]?\s+= |FAR\s+= |CBFRSYNRA\s+= |soft iova-to-phys=)/;

// VFIO, QEMU, RMRR, groups (reference §6, §7).
const QEMU_PREFIX = /^(qemu-system-[\w-]+|qemu-kvm|qemu): (?:(-device [^:]*?(?:host=[^:,]*(?::[^:,]*)*)?[^:]*): )?/;
const NOT_VIABLE = /(?:vfio (\S+): )?group (\d+) is not viable/;
const VIABLE_HINT = /^Please ensure all devices within the iommu_group are bound to their vfio bus driver\.?$/;
const MEMLOCK = /^(vfio_pin_pages_remote): RLIMIT_MEMLOCK \((\d+)\) exceeded$/;
const MAP_FAILED = /VFIO_MAP_DMA failed: (.+)$/;
const DMA_MAP_CALL = /vfio_dma_map\((0x[0-9a-f]+), (0x[0-9a-f]+), (0x[0-9a-f]+), (0x[0-9a-f]+)\) = (-\d+) \((.+)\)/;
const NO_IR = /No interrupt remapping support\. {1,2}Use the module param "allow_unsafe_interrupts"/;
const RMRR_INELIGIBLE = /^(?:(\S+) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): )?Device is ineligible for IOMMU domain attach due to platform RMRR requirement/;
const RMRR_BROKEN = /RMRR entry for device ([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) is broken/;
const RMRR_BASE = /^(?:(?:dmar|DMAR): )?RMRR base: (0x[0-9a-f]+) end: (0x[0-9a-f]+)$/;
const GROUP_ADD = /^(\S+) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|[\w.:-]+): Adding to iommu group (\d+)$/;

/** Starts of single-line records a wrap can cut; and how a complete one ends. */
const WRAP_START = /\[DMA (?:Read|Write)|DMAR:\[DMA|Request dev|AMD-Vi: Event|Unhandled context|\[INTR-REMAP\]/;
const WRAPPED_END = /(\] .+|\]|, cb=\d+)$/;

/** Every record or context line contains one of these; anything else is skipped at once. */
const MAYBE = /FSR|FSYNR|FAR |CBFRSYNRA|iova-to-phys|DMAR|dmar|DRHD|INTR-REMAP|AMD-Vi|DTE\[|CMD\[|smmu|event|Unhandled context|vfio|VFIO|RMRR|iommu group|callbacks suppressed|Please ensure|interrupt remapping|pte level|root entry|context entry|pasid|PASID|Dump |PTE not present|priv |ineligible|device=/;

export function parseLog(text: string): ImportResult {
  const lines = splitLines(text);
  const records: EvidenceRecord[] = [];
  const skip = new SkipList();
  /** Context seen before the record it belongs to (DRHD status, suppressed callbacks). */
  let pending: { line: number; text: string }[] = [];
  const emit = (r: EvidenceRecord) => {
    r.context.unshift(...pending);
    pending = [];
    records.push(r);
    return r;
  };
  const last = () => records[records.length - 1];
  /** Whether the next line looks like the continuation of a wrapped line (no log prefix of its own). */
  const WRAP_NEXT = (i: number) => {
    const next = lines[i + 1];
    return next !== undefined && next.text.trim() !== "" && messageOf(next.text).column === 0 && !WRAP_START.test(next.text) && next.text.length <= 4096;
  };
  for (let i = 0; i < lines.length; i++) {
    const ln = lines[i]!;
    if (ln.text.length > MAX_LINE) {
      skip.add(ln.index, "line too long to be a kernel message");
      continue;
    }
    const msg = messageOf(ln.text);
    // Trailing blanks carry no meaning (the ≤4.6 format ends in a space; copies often lose it).
    const t = msg.text.replace(/\s+$/, "");
    if (t.trim() === "") continue;
    if (!MAYBE.test(t)) {
      skip.add(ln.index, "not an IOMMU, VFIO or RMRR message");
      continue;
    }
    const base = (kind: EvidenceRecord["kind"], summary: string, fields: EvidenceRecord["fields"], endLine = ln.index): EvidenceRecord => {
      const r: EvidenceRecord = { kind, line: ln.index, endLine, column: msg.column, text: lines.slice(ln.index, endLine + 1).map((l) => l.text).join("\n"), summary, fields, context: [] };
      if (msg.timestamp) r.timestamp = msg.timestamp;
      return r;
    };
    let m: RegExpExecArray | null;

    // ---- Intel VT-d
    const mNew = NEW_DMA.exec(t);
    const mMid = mNew ? null : MID_DMA.exec(t);
    if (mNew || mMid) {
      const isNew = mNew !== null;
      // NEW_DMA: type, pasid, bus, dev, fn, addr, reason, text; MID_DMA: type, bus, dev, fn, pasid, addr, reason, text.
      const g = mNew ? mNew : [mMid![0], mMid![1], mMid![5], mMid![2], mMid![3], mMid![4], mMid![6], mMid![7], mMid![8]];
      m = g as RegExpExecArray;
      const write = m[1] === "DMA Write";
      const pasidText = m[2];
      const bus = parseInt(m[3]!, 16), dev = parseInt(m[4]!, 16), fn = Number(m[5]);
      const addr = BigInt(`0x${m[6]}`);
      const reason = isNew ? parseInt(m[7]!, 16) : parseInt(m[7]!, 10);
      const era = isNew ? (/\[0x[0-9a-f]{2}:0x/.test(t) ? "5.14" : "5.15+") : pasidText !== undefined ? "5.5-5.13" : "4.7-5.4";
      const fields: EvidenceRecord["fields"] = { vendor: "intel", era, device: bdfText(bus, dev, fn), bus, devfn: (dev << 3) | fn, write, address: hex(addr), reason, reasonText: m[8]! };
      if (pasidText !== undefined && pasidText !== "ffffffff") fields.pasid = parseInt(pasidText, 16);
      emit(base("dmar-fault", `${write ? "write" : "read"} by ${bdfText(bus, dev, fn)} to IOVA ${hex(addr)} faulted: 0x${reason.toString(16).padStart(2, "0")} ${m[8]}`, fields));
      continue;
    }
    if ((m = OLD_DMA_1.exec(t))) {
      const write = m[1] === "DMA Write";
      const bus = parseInt(m[2]!, 16), dev = parseInt(m[3]!, 16), fn = Number(m[4]);
      const addr = BigInt(`0x${m[5]}`);
      const next = lines[i + 1];
      const m2 = next ? OLD_DMA_2.exec(messageOf(next.text).text) : null;
      const fields: EvidenceRecord["fields"] = { vendor: "intel", era: "≤4.6", device: bdfText(bus, dev, fn), bus, devfn: (dev << 3) | fn, write, address: hex(addr) };
      if (m2) {
        fields.reason = parseInt(m2[1]!, 10);
        fields.reasonText = m2[2]!;
        i++;
      }
      emit(base("dmar-fault", `${write ? "write" : "read"} by ${bdfText(bus, dev, fn)} to IOVA ${hex(addr)} faulted${m2 ? `: 0x${Number(fields.reason).toString(16).padStart(2, "0")} ${m2[2]}` : " (the reason line is missing)"}`, fields, m2 ? ln.index + 1 : ln.index));
      continue;
    }
    if ((m = IR.exec(t)) || (m = OLD_IR_1.exec(t))) {
      const isOld = OLD_IR_1.test(t);
      const bus = parseInt(m[1]!, 16), dev = parseInt(m[2]!, 16), fn = Number(m[3]);
      let index: number;
      let reason: number | undefined;
      let reasonText: string | undefined;
      let end = ln.index;
      if (isOld) {
        index = parseInt(m[4]!, 16);
        const next = lines[i + 1];
        const m2 = next ? OLD_IR_2.exec(messageOf(next.text).text) : null;
        if (m2) {
          reason = parseInt(m2[1]!, 10);
          reasonText = m2[2]!;
          end++;
          i++;
        }
      } else {
        index = parseInt(m[5]!, 16);
        reason = m[6] ? parseInt(m[7]!, 16) : parseInt(m[7]!, 10);
        reasonText = m[8]!;
      }
      const fields: EvidenceRecord["fields"] = { vendor: "intel", device: bdfText(bus, dev, fn), bus, devfn: (dev << 3) | fn, index };
      if (reason !== undefined) fields.reason = reason;
      if (reasonText !== undefined) fields.reasonText = reasonText;
      emit(base("intr-remap-fault", `interrupt from ${bdfText(bus, dev, fn)} (IRTE index ${index}) blocked${reason !== undefined ? `: 0x${reason.toString(16)} ${reasonText}` : ""}`, fields, end));
      continue;
    }
    if ((m = DRHD.exec(t))) {
      const fsts = parseInt(m[1]!, 16);
      pending.push({ line: ln.index, text: `${t} (FSTS: ${[fsts & 1 ? "PFO fault overflow" : "", fsts & 2 ? "PPF primary fault pending" : "", fsts & 0x10 ? "IQE" : ""].filter(Boolean).join(", ") || "no fault bits"})` });
      continue;
    }
    if ((m = SUPPRESSED.exec(t))) {
      pending.push({ line: ln.index, text: `${t}: ${m[2]} more messages of ${m[1]} were dropped by the ratelimit` });
      continue;
    }
    if (PTE_DUMP.test(t) && last()?.kind === "dmar-fault") {
      last()!.context.push({ line: ln.index, text: t });
      continue;
    }

    // ---- AMD-Vi
    // Older kernels printed "AMD-Vi: Event logged [" and the event as two printk records, each
    // with its own prefix: join them.
    let amdEnd = ln.index;
    if (/AMD-Vi: Event logged \[$/.test(t) && i + 1 < lines.length) {
      const next = messageOf(lines[i + 1]!.text).text.replace(/\s+$/, "");
      if (/^[A-Z_]+ .*\]$/.test(next)) {
        m = AMD_EVENT.exec(t + next);
        if (m) {
          amdEnd = ln.index + 1;
          i++;
        }
      } else m = null;
    } else m = null;
    if (m || (m = AMD_EVENT.exec(t)) || (!WRAP_NEXT(i) && (m = AMD_EVENT_OPEN.exec(t)))) {
      const event = m[3]!;
      const kv: Record<string, string> = {};
      for (const p of (m[4] ?? "").split(/,?\s+/)) {
        const eq = p.indexOf("=");
        if (eq > 0) kv[p.slice(0, eq)] = p.slice(eq + 1).replace(/[\],]$/, "");
      }
      const fields: EvidenceRecord["fields"] = { vendor: "amd", event };
      const devText = kv.device ?? (m[2] && /^[0-9a-f]{4}:/.test(m[2]) ? m[2] : undefined);
      const b = devText ? parseBdf(devText) : undefined;
      if (b) fields.device = b.key;
      if (m[1] && m[2] && /^[0-9a-f]{4}:/.test(m[2])) fields.driver = m[1];
      for (const k of ["domain", "address", "flags", "pasid", "tag"]) if (kv[k] !== undefined) fields[k] = kv[k]!;
      if (kv.flags !== undefined) {
        const f = parseInt(kv.flags, 16);
        fields.write = (f & 0x020) !== 0; // EVENT_FLAG_RW
        fields.interrupt = (f & 0x008) !== 0; // EVENT_FLAG_I
      }
      const what = event === "IO_PAGE_FAULT" ? `${fields.interrupt ? "interrupt request" : fields.write ? "write" : "read"} by ${fields.device ?? "?"} to ${kv.address ?? "?"} in domain ${kv.domain ?? "?"} faulted (IO_PAGE_FAULT)` : `${event}${fields.device ? ` for ${fields.device}` : ""}${kv.address ? ` at ${kv.address}` : ""}`;
      emit(base("amdvi-event", what, fields, amdEnd));
      continue;
    }
    if (AMD_DUMP.test(t) && last()?.kind === "amdvi-event") {
      last()!.context.push({ line: ln.index, text: t });
      continue;
    }
    if ((m = AMD_NOT_ATTACHED.exec(t)) && last()?.kind === "amdvi-event") {
      last()!.context.push({ line: ln.index, text: t });
      continue;
    }
    if (AMD_OVERFLOW.test(t)) {
      emit(base("amdvi-event", "the AMD-Vi event log overflowed: events were lost", { vendor: "amd", event: "EVENT_LOG_OVERFLOW" }));
      continue;
    }

    // ---- Arm SMMUv3
    if ((m = SMMU_EVENT.exec(t))) {
      const id = parseInt(m[2]!, 16);
      const raw: bigint[] = [];
      let j = i + 1;
      while (j < lines.length && raw.length < 4) {
        const r = SMMU_RAW.exec(messageOf(lines[j]!.text).text);
        if (!r) break;
        raw.push(BigInt(`0x${r[2]}`));
        j++;
      }
      const fields: EvidenceRecord["fields"] = { vendor: "arm", smmu: m[1]!, id, event: SMMU_EVENTS[id] ?? "UNKNOWN" };
      if (raw.length === 4) Object.assign(fields, decodeSmmuEvent(raw));
      i = j - 1;
      emit(base("smmuv3-event", `SMMUv3 event 0x${id.toString(16).padStart(2, "0")} ${fields.event}${fields.sid !== undefined ? ` for stream ${hex(Number(fields.sid))}` : ""}${fields.iova ? ` at ${fields.iova}` : ""}`, fields, j - 1));
      continue;
    }
    if ((m = SMMU_DECODED.exec(t))) {
      const prev = last();
      const fields: EvidenceRecord["fields"] = { vendor: "arm", event: m[1]!, client: m[2]!, sid: parseInt(m[3]!, 16), ssid: parseInt(m[4]!, 16) };
      if (m[5]) fields.iova = m[5];
      if (m[6]) fields.ipa = m[6];
      if (m[7]) fields.fetchAddr = m[7];
      if (prev?.kind === "smmuv3-event" && prev.endLine >= ln.index - 1 && (prev.fields.sid === undefined || prev.fields.sid === fields.sid)) {
        Object.assign(prev.fields, fields);
        prev.endLine = ln.index;
        prev.text += `\n${ln.text}`;
        prev.summary = `SMMUv3 ${fields.event} for ${fields.client} (stream ${m[3]})${fields.iova ? ` at IOVA ${fields.iova}` : ""}`;
      } else emit(base("smmuv3-event", `SMMUv3 ${fields.event} for ${fields.client} (stream ${m[3]})${fields.iova ? ` at IOVA ${fields.iova}` : ""}`, fields));
      continue;
    }
    if ((m = SMMU_DECODED_2.exec(t)) && last()?.kind === "smmuv3-event") {
      const prev = last()!;
      Object.assign(prev.fields, { privileged: m[1] === "priv", instruction: m[2] === "inst", write: m[3] === "write", stage: m[4]!, class: m[5]! });
      prev.endLine = ln.index;
      prev.text += `\n${ln.text}`;
      continue;
    }
    if (SMMU_OVERFLOW.test(t)) {
      emit(base("smmuv3-event", "the SMMUv3 event queue overflowed: events were lost", { vendor: "arm", event: "EVTQ_OVERFLOW" }));
      continue;
    }
    if (SMMU2_DUMP.test(t) && last()?.kind === "smmuv2-fault") {
      last()!.context.push({ line: ln.index, text: t });
      continue;
    }
    if ((m = SMMU2.exec(t))) {
      const fsr = parseInt(m[1]!, 16);
      const fsynr = parseInt(m[3]!, 16);
      const fields: EvidenceRecord["fields"] = { vendor: "arm", fsr: hex(fsr), iova: `0x${m[2]}`, fsynr: hex(fsynr), cb: Number(m[5]), faults: smmuv2Fsr(fsr), write: (fsynr & 0x10) !== 0 };
      if (m[4]) fields.streamId = `0x${m[4]}`;
      emit(base("smmuv2-fault", `SMMUv2 context bank ${m[5]} fault at IOVA 0x${m[2]}: ${fields.faults} (${fields.write ? "write" : "read"})`, fields));
      continue;
    }

    // ---- VFIO, QEMU, RMRR, groups
    const q = QEMU_PREFIX.exec(t);
    const body = q ? t.slice(q[0].length) : t;
    if ((m = NOT_VIABLE.exec(t))) {
      const fields: EvidenceRecord["fields"] = { problem: "group-not-viable", group: Number(m[2]) };
      const b = m[1] ? parseBdf(m[1]) : undefined;
      if (b) fields.device = b.key;
      if (q) fields.program = q[1]!;
      emit(base("vfio-message", `VFIO refuses IOMMU group ${m[2]}${b ? ` (device ${b.key})` : ""}: the group is not viable`, fields));
      continue;
    }
    if (VIABLE_HINT.test(body) && last()?.kind === "vfio-message") {
      last()!.context.push({ line: ln.index, text: t });
      continue;
    }
    if ((m = MEMLOCK.exec(body))) {
      emit(base("vfio-message", `pinning guest memory exceeded RLIMIT_MEMLOCK (${m[2]} bytes): VFIO_IOMMU_MAP_DMA fails with ENOMEM`, { problem: "memlock", limit: Number(m[2]) }));
      continue;
    }
    if ((m = DMA_MAP_CALL.exec(body))) {
      emit(base("vfio-message", `vfio_dma_map(iova ${m[2]}, size ${m[3]}) failed with ${m[5]} (${m[6]})`, { problem: "map-failed", container: m[1]!, iova: m[2]!, size: m[3]!, vaddr: m[4]!, errno: Number(m[5]), error: m[6]! }));
      continue;
    }
    if ((m = MAP_FAILED.exec(body))) {
      emit(base("vfio-message", `VFIO_MAP_DMA failed: ${m[1]}`, { problem: "map-failed", error: m[1]! }));
      continue;
    }
    if (NO_IR.test(body)) {
      emit(base("vfio-message", "VFIO refuses the device: no interrupt remapping (allow_unsafe_interrupts is off)", { problem: "no-interrupt-remapping" }));
      continue;
    }
    if ((m = RMRR_INELIGIBLE.exec(body))) {
      const fields: EvidenceRecord["fields"] = { problem: "rmrr-ineligible" };
      if (m[2]) fields.device = parseBdf(m[2])?.key ?? m[2];
      emit(base("rmrr", `${fields.device ?? "a device"} cannot be assigned: its firmware RMRR (reserved memory the BIOS keeps using) forbids attaching it to a VM's IOMMU domain`, fields));
      continue;
    }
    if ((m = RMRR_BROKEN.exec(body))) {
      emit(base("rmrr", `firmware bug: the RMRR of ${m[1]}:${m[2]}.${m[3]} is broken (workaround applied)`, { problem: "rmrr-broken", device: `${m[1]}:${m[2]}.${m[3]}` }));
      continue;
    }
    if ((m = RMRR_BASE.exec(body))) {
      emit(base("rmrr", `firmware reserved memory region (RMRR) ${m[1]}-${m[2]}`, { problem: "rmrr-region", base: m[1]!, end: m[2]! }));
      continue;
    }
    if ((m = GROUP_ADD.exec(body))) {
      const b = parseBdf(m[2]!);
      emit(base("group-add", `${m[2]} joined IOMMU group ${m[3]}`, { device: b?.key ?? m[2]!, group: Number(m[3]), bus: m[1]! }));
      continue;
    }
    // A record wrapped by a terminal or a mail client: the continuation lines have no log prefix
    // of their own. Join them (longest first) and parse again.
    if (WRAP_START.test(t)) {
      const cont: string[] = [];
      for (let k = 1; k <= 3 && i + k < lines.length; k++) {
        const next = lines[i + k]!.text;
        const nm = messageOf(next);
        if (nm.column !== 0 || !next.trim() || WRAP_START.test(next) || next.length > 4096) break;
        cont.push(next.replace(/\s+$/, ""));
      }
      let done = false;
      for (let k = cont.length; k >= 1 && !done; k--) {
        const joined = t + cont.slice(0, k).join("");
        if (!WRAPPED_END.test(joined)) continue;
        const sub = parseLog(joined);
        if (sub.records.length !== 1) continue;
        const r = sub.records[0]!;
        r.line = ln.index;
        r.endLine = ln.index + k;
        r.column = msg.column;
        r.text = lines.slice(ln.index, ln.index + k + 1).map((l) => l.text).join("\n");
        if (msg.timestamp) r.timestamp = msg.timestamp;
        r.context.push({ line: ln.index, text: `(a wrapped record: ${k + 1} lines joined)` });
        emit(r);
        i += k;
        done = true;
      }
      if (done) continue;
    }
    skip.add(ln.index, lineReason(t));
  }
  // Context with no record after it stays visible as skipped lines with their reason.
  for (const p of pending) skip.add(p.line, "context line with no fault record after it");
  skip.items.sort((a, b) => a.line - b.line);
  return { records, skipped: skip.items };
}

function lineReason(t: string): string {
  if (/^(?:dmar|DMAR):/.test(t)) return "a DMAR message that is not a fault record";
  if (/AMD-Vi/.test(t)) return "an AMD-Vi message that is not an event";
  if (/arm-smmu/.test(t)) return "an SMMU message that is not an event";
  if (/vfio/i.test(t)) return "a VFIO message this importer does not decode";
  return "not an IOMMU, VFIO or RMRR message";
}

/** SMMUv3 event names (reference §5.1, Linux event_str[]). */
export const SMMU_EVENTS: Record<number, string> = {
  0x02: "C_BAD_STREAMID",
  0x03: "F_STE_FETCH",
  0x04: "C_BAD_STE",
  0x06: "F_STREAM_DISABLED",
  0x08: "C_BAD_SUBSTREAMID",
  0x09: "F_CD_FETCH",
  0x0a: "C_BAD_CD",
  0x10: "F_TRANSLATION",
  0x11: "F_ADDR_SIZE",
  0x12: "F_ACCESS",
  0x13: "F_PERMISSION",
  0x25: "F_VMS_FETCH",
};

/** The event record's fields (reference §5.2). */
export function decodeSmmuEvent(raw: bigint[]): Record<string, string | number | boolean> {
  const b = (v: bigint, hi: number, lo: number) => Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
  const ssv = b(raw[0]!, 11, 11) === 1;
  const cls = b(raw[1]!, 41, 40);
  return {
    sid: b(raw[0]!, 63, 32),
    ssid: ssv ? b(raw[0]!, 31, 12) : 0,
    ssv,
    stag: b(raw[1]!, 15, 0),
    stall: b(raw[1]!, 31, 31) === 1,
    privileged: b(raw[1]!, 33, 33) === 1,
    instruction: b(raw[1]!, 34, 34) === 1,
    write: b(raw[1]!, 35, 35) === 0, // RnW = 1 is a read
    stage: b(raw[1]!, 39, 39) ? "s2" : "s1",
    class: ["CD fetch", "translation table fetch", "input address", "reserved"][cls]!,
    iova: `0x${raw[2]!.toString(16)}`,
    ipa: hex(((raw[3]! >> 12n) & ((1n << 40n) - 1n)) << 12n),
  };
}

/** FSR fault bits of an SMMUv2 context bank (Arm SMMU architecture; reference §5.5). */
export function smmuv2Fsr(fsr: number): string {
  const bits: [number, string][] = [[1, "TF translation fault"], [2, "AFF access flag fault"], [3, "PF permission fault"], [4, "EF external fault"], [5, "TLBMCF TLB match conflict"], [6, "TLBLKF TLB lock fault"], [7, "ASF address size fault"], [8, "UUT unsupported upstream transaction"], [30, "SS stalled"], [31, "MULTI multiple faults"]];
  const names = bits.filter(([b]) => (fsr >>> b) & 1).map(([, n]) => n);
  return names.length ? names.join(", ") : "no fault bits";
}

/** The reason text Linux prints for a VT-d code (for explanations of old two-line records). */
export function vtdReasonText(code: number): string {
  return dmarGetFaultReason(code).text;
}

export type { Line };
