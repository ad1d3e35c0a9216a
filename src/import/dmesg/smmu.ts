/**
 * Arm SMMU lines: SMMUv3 events, the raw dump (reference §5.3, drivers/iommu/arm/arm-smmu-v3
 * arm_smmu_evtq_thread) and the decoded lines of newer kernels; SMMUv2 context faults and the
 * register dump after them (§5.5).
 */
import { hex } from "../records.js";
import { type Fields, type RuleTable } from "./rule.js";
import { messageOf } from "../lines.js";

const SMMU_EVENT = /^(arm-smmu-v3 \S+|[\w.:-]+ [\w.:-]+): event 0x([0-9a-f]{2}) received:$/;
const SMMU_RAW = /^(arm-smmu-v3 \S+|[\w.:-]+ [\w.:-]+):\s+0x([0-9a-f]{16})$/;
const SMMU_DECODED = /^(?:arm-smmu-v3 \S+: )?event: (\S+) client: (.+?) sid: (0x[0-9a-f]+|0) ssid: (0x[0-9a-f]+|0)(?: iova: (0x[0-9a-f]+|0) ipa: (0x[0-9a-f]+|0)| fetch_addr: (0x[0-9a-f]+|0))?$/;
const SMMU_DECODED_2 = /^(?:arm-smmu-v3 \S+: )?(priv|unpriv) (inst|data) (read|write) (s2|s1) "(.*)"( ttd_read| ttd_write)?( stall)? stag: (0x[0-9a-f]+|0)$/;
const SMMU_OVERFLOW = /^(?:arm-smmu-v3 \S+: )?EVTQ overflow detected -- events lost$/;
/** arm_smmu_priq_thread's dev_err when PRIQ_PROD.OVFLG != PRIQ_CONS.OVACKFLG (Page Requests were discarded). */
const SMMU_PRIQ_OVERFLOW = /^(?:arm-smmu-v3 \S+: )?PRIQ overflow detected -- requests lost$/;
/** arm_smmu_context_fault: dev_err(smmu->dev, ...), so the device prefix (when there is one) is the SMMU's ("arm-smmu 15000000.iommu: "). */
const SMMU2 = /(?:^|^[\w-]*smmu[\w-]* \S+: |\s[\w-]*smmu[\w-]* \S+: )Unhandled context fault: fsr=0x([0-9a-f]+), iova=0x([0-9a-f]+), fsynr=0x([0-9a-f]+)(?:, cbfrsynra=0x([0-9a-f]+))?, cb=(\d+)$/;
/** The register dump newer kernels print after a context fault (arm_smmu_print_context_fault_info). */
const SMMU2_DUMP = /(?:^|\s)(?:FSR\s+= [0-9a-f]{8} \[|FSYNR[01]?\s+= |FAR\s+= |CBFRSYNRA\s+= |soft iova-to-phys=)/;

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

/**
 * The event record's fields (reference §5.2), only those the event carries (SMMUv3 architecture,
 * 7.3 "Event records"): every event has StreamID and SSV/SubstreamID; F_UUT, F_BAD_ATS_TREQ,
 * F_TRANSL_FORBIDDEN, F_WALK_EABT and the translation faults F_TRANSLATION / F_ADDR_SIZE /
 * F_ACCESS / F_PERMISSION have the input address and RnW, PnU, InD (F_WALK_EABT and the translation
 * faults also S2, CLASS, STAG/Stall, and the IPA for a stage-2 fault); F_STE_FETCH, F_CD_FETCH,
 * F_VMS_FETCH and F_WALK_EABT have the fetch address (raw[3] 51:3). C_BAD_STREAMID, C_BAD_STE,
 * F_STREAM_DISABLED, C_BAD_SUBSTREAMID and C_BAD_CD have no address and no direction.
 */
export function decodeSmmuEvent(raw: bigint[]): Record<string, string | number | boolean> {
  const b = (v: bigint, hi: number, lo: number) => Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
  const id = b(raw[0]!, 7, 0);
  const ssv = b(raw[0]!, 11, 11) === 1;
  const out: Record<string, string | number | boolean> = { sid: b(raw[0]!, 63, 32), ssid: ssv ? b(raw[0]!, 31, 12) : 0, ssv };
  const translation = id >= 0x10 && id <= 0x13;
  const walk = id === 0x0b;
  if (translation || walk || id === 0x01 || id === 0x05 || id === 0x07) {
    out.privileged = b(raw[1]!, 33, 33) === 1;
    out.instruction = b(raw[1]!, 34, 34) === 1;
    out.write = b(raw[1]!, 35, 35) === 0; // RnW = 1 is a read
    out.iova = `0x${raw[2]!.toString(16)}`;
  }
  if (translation || walk) {
    out.stag = b(raw[1]!, 15, 0);
    out.stall = b(raw[1]!, 31, 31) === 1;
    out.stage = b(raw[1]!, 39, 39) ? "s2" : "s1";
    out.class = ["CD fetch", "translation table fetch", "input address", "reserved"][b(raw[1]!, 41, 40)]!;
  }
  if (translation) out.ipa = hex(((raw[3]! >> 12n) & ((1n << 40n) - 1n)) << 12n);
  if (id === 0x03 || id === 0x09 || id === 0x25 || walk) out.fetchAddr = hex(((raw[3]! >> 3n) & ((1n << 49n) - 1n)) << 3n);
  return out;
}

/** FSR fault bits of an SMMUv2 context bank (Arm SMMU architecture; reference §5.5). */
export function smmuv2Fsr(fsr: number): string {
  const bits: [number, string][] = [[1, "TF translation fault"], [2, "AFF access flag fault"], [3, "PF permission fault"], [4, "EF external fault"], [5, "TLBMCF TLB match conflict"], [6, "TLBLKF TLB lock fault"], [7, "ASF address size fault"], [8, "UUT unsupported upstream transaction"], [30, "SS stalled"], [31, "MULTI multiple faults"]];
  const names = bits.filter(([b]) => (fsr >>> b) & 1).map(([, n]) => n);
  return names.length ? names.join(", ") : "no fault bits";
}

export const SMMU_RULES: RuleTable = {
  source: "Arm SMMUv3, SMMUv2",
  rules: [
    {
      // "event 0x%02x received:" and the four raw dwords on the lines after it.
      pattern: SMMU_EVENT,
      build: (m, cx) => {
        const id = parseInt(m[2]!, 16);
        const raw: bigint[] = [];
        let j = cx.i + 1;
        while (j < cx.lines.length && raw.length < 4) {
          const r = SMMU_RAW.exec(messageOf(cx.lines.text(j)).text);
          if (!r) break;
          raw.push(BigInt(`0x${r[2]}`));
          j++;
        }
        const fields: Fields = { vendor: "arm", smmu: m[1]!, id, event: SMMU_EVENTS[id] ?? "UNKNOWN" };
        if (raw.length === 4) Object.assign(fields, decodeSmmuEvent(raw));
        cx.i = j - 1;
        cx.emit(cx.record("smmuv3-event", `SMMUv3 event 0x${id.toString(16).padStart(2, "0")} ${fields.event}${fields.sid !== undefined ? ` for stream ${hex(Number(fields.sid))}` : ""}${fields.iova ? ` at ${fields.iova}` : fields.fetchAddr ? ` fetching ${fields.fetchAddr}` : ""}`, fields, j - 1));
      },
    },
    {
      // The decoded form; completes the raw event just before it (same stream) or stands alone.
      pattern: SMMU_DECODED,
      build: (m, cx) => {
        const prev = cx.last();
        const fields: Fields = { vendor: "arm", event: m[1]!, client: m[2]!, sid: parseInt(m[3]!, 16), ssid: parseInt(m[4]!, 16) };
        // "%#llx" prints 0 as "0".
        const x = (v: string) => (v === "0" ? "0x0" : v);
        if (m[5]) fields.iova = x(m[5]);
        if (m[6]) fields.ipa = x(m[6]);
        if (m[7]) fields.fetchAddr = x(m[7]);
        const summary = `SMMUv3 ${fields.event} for ${fields.client} (stream ${m[3]})${fields.iova ? ` at IOVA ${fields.iova}` : ""}`;
        if (prev?.kind === "smmuv3-event" && prev.endLine >= cx.ln.index - 1 && (prev.fields.sid === undefined || prev.fields.sid === fields.sid)) {
          Object.assign(prev.fields, fields);
          prev.endLine = cx.ln.index;
          prev.text += `\n${cx.ln.text}`;
          prev.summary = summary;
        } else cx.emit(cx.record("smmuv3-event", summary, fields));
      },
    },
    {
      pattern: SMMU_DECODED_2,
      when: (cx) => cx.lastIs("smmuv3-event"),
      build: (m, cx) => {
        const prev = cx.last()!;
        Object.assign(prev.fields, { privileged: m[1] === "priv", instruction: m[2] === "inst", write: m[3] === "write", stage: m[4]!, class: m[5]! });
        prev.endLine = cx.ln.index;
        prev.text += `\n${cx.ln.text}`;
      },
    },
    { pattern: SMMU_OVERFLOW, build: (_m, cx) => void cx.emit(cx.record("smmuv3-event", "the SMMUv3 event queue overflowed: events were lost", { vendor: "arm", event: "EVTQ_OVERFLOW" })) },
    { pattern: SMMU_PRIQ_OVERFLOW, build: (_m, cx) => void cx.emit(cx.record("smmuv3-event", "the SMMUv3 PRI queue overflowed: Page Requests were lost (their devices get no PRG Response)", { vendor: "arm", event: "PRIQ_OVERFLOW" })) },
    { pattern: SMMU2_DUMP, when: (cx) => cx.lastIs("smmuv2-fault"), build: (_m, cx) => cx.attach() },
    {
      pattern: SMMU2,
      build: (m, cx) => {
        const fsr = parseInt(m[1]!, 16);
        const fsynr = parseInt(m[3]!, 16);
        const fields: Fields = { vendor: "arm", fsr: hex(fsr), iova: `0x${m[2]}`, fsynr: hex(fsynr), cb: Number(m[5]), faults: smmuv2Fsr(fsr), write: (fsynr & 0x10) !== 0 };
        if (m[4]) fields.streamId = `0x${m[4]}`;
        cx.emit(cx.record("smmuv2-fault", `SMMUv2 context bank ${m[5]} fault at IOVA 0x${m[2]}: ${fields.faults} (${fields.write ? "write" : "read"})`, fields));
      },
    },
  ],
};
