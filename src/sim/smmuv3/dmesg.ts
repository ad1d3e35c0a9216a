/**
 * The host kernel's arm-smmu-v3 messages, character for character (lines without the printk
 * timestamp, with dev_printk's "<driver> <device>: " prefix: "arm-smmu-v3 arm-smmu-v3.0.auto: ").
 *
 * Event queue records, two generations of drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c:
 * - "6.15" (current): arm_smmu_dump_event() -> arm_smmu_dump_raw_event():
 *     dev_err(smmu->dev, "event 0x%02x received:\n", event->id);
 *     dev_err(smmu->dev, "\t0x%016llx\n", raw[i]);            (EVTQ_ENT_DWORDS = 4 lines)
 *   then by event id:
 *     F_TRANSLATION/F_ADDR_SIZE/F_ACCESS/F_PERMISSION:
 *       "event: %s client: %s sid: %#x ssid: %#x iova: %#llx ipa: %#llx"
 *       "%s %s %s %s \"%s\"%s%s stag: %#x"  (priv|unpriv, inst|data, read|write, s2|s1,
 *        event_class_str[class], " ttd_read"|" ttd_write"|"" when CLASS = TT, " stall"|"")
 *     F_STE_FETCH/F_CD_FETCH/F_VMS_FETCH: "event: %s client: %s sid: %#x ssid: %#x fetch_addr: %#llx"
 *     others: "event: %s client: %s sid: %#x ssid: %#x"
 *   with event_str[id] or "UNKNOWN", client = dev_name(master) or "(unassigned sid)".
 * - "4.x" (v4.x .. v6.14, arm_smmu_evtq_thread): the same raw dump at dev_info level, no decoded lines.
 * Ratelimited by a DEFINE_RATELIMIT_STATE(rs, DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST)
 * in the evtq thread. Overflow: dev_err(smmu->dev, "EVTQ overflow detected -- events lost\n").
 *
 * The kernel's %#x / %#llx print 0 as "0x0" (lib/vsprintf.c number(): the 0x prefix of SPECIAL
 * hex is not dropped for zero, unlike C's printf), as the real lines below show ("ssid: 0x0").
 * Sources: iommu-reference.md §5.3; real lines in test/unit/smmuv3-dmesg.test.ts.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { hasStableBackport, kernelAtLeast } from "../kernelVersion.js";
import { decodeEvent, F_ACCESS, F_ADDR_SIZE, F_CD_FETCH, F_PERMISSION, F_STE_FETCH, F_TRANSLATION, F_VMS_FETCH, eventInfo } from "./spec.js";

/** Format generations of the event message. */
export type SmmuKernelEra = "4.x" | "6.15";
export const SMMU_CURRENT_ERA: SmmuKernelEra = "6.15";

/** "6.8" -> "4.x", "6.15" / "6.18" -> "6.15"; undefined when no version number is in the text. */
export function smmuKernelEra(version: string): SmmuKernelEra | undefined {
  const m = /(\d+)\.(\d+)/.exec(version);
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > 6 || (major === 6 && minor >= 15) ? "6.15" : "4.x";
}

/**
 * Whether a kernel sets STE.S2S for stall_enabled masters and answers stage-2 stalls: v6.12 and
 * later (commit ce7cb08e22e0 "iommu/arm-smmu-v3: Match Stall behaviour for S2", v6.12-rc1), and the
 * stable 6.10.14 and 6.11.3 (the linux-stable-rc 6.11.y push of 2024-10-08 carries it as
 * 224eb2d12e37, the 6.10.y one of that day as a29f94ebac50: the "[PATCH 6.10 000/482] 6.10.14-rc1"
 * review round). A text without a version: the current kernel.
 */
export function smmuS2Stalls(version: string): boolean {
  return kernelAtLeast(version, 6, 12, true) || hasStableBackport(version, [[6, 10, 14], [6, 11, 3]]);
}

/**
 * Whether the SVA mmu notifier replaces per-page TLBIs by one CMD_TLBI_NH_ASID from
 * CMDQ_MAX_TLBI_OPS pages on (arm-smmu-v3-sva.c, "Cloned from the MAX_TLBI_OPS in
 * arch/arm64/include/asm/tlbflush.h ... otherwise result in a soft lockup"): the fix "Fix soft
 * lockup triggered by arm_smmu_mm_invalidate_range" (d5afb4b47e13, Fixes: 51d113c3be09, Cc: stable),
 * v6.6 (merged with the arm-smmu fixes of the v6.6-rc cycle; the release that also renamed the
 * notifier to arm_smmu_mm_arch_invalidate_secondary_tlbs), and backported ("[PATCH v2][6.5, 6.1,
 * 5.15]", 2023-10-03) to 6.5.6, 6.1.56 and 5.15.134: the linux-6.5.y push of 2023-10-06 and the
 * linux-stable-rc 6.1.y and 5.15.y pushes of 2023-10-04 (the 5.15.134-rc1 review round) carry it.
 * Older kernels (v5.11 on) send one CMD_TLBI_NH_VA per page whatever the size.
 */
export function smmuSvaTlbiThreshold(version: string): boolean {
  return kernelAtLeast(version, 6, 6, true) || hasStableBackport(version, [[6, 5, 6], [6, 1, 56], [5, 15, 134]]);
}

/**
 * What arm_smmu_mm_release (arm-smmu-v3-sva.c, the SVA mmu notifier's .release, run by exit_mmap
 * when a bound process exits) writes in the process's CD: "DMA may still be running. Keep the cd
 * valid to avoid C_BAD_CD events, but disable translation."
 * - "quiet" (v5.11 - v6.7): arm_smmu_write_ctx_desc(..., &quiet_cd): CD word 0 | TCR.EPD0, the rest
 *   kept ("(4) Quiesce the context without clearing the valid bit"); R stays 1, so the faults are
 *   recorded: F_TRANSLATION events printed by the evtq thread.
 * - "quiet-abort" (v6.8 - v6.9): the same with CD.S and CD.R cleared unless the SMMU forces stalls
 *   (ARM_SMMU_FEAT_STALL_FORCE): b41932f54458 "iommu/arm-smmu-v3: disable stall for quiet_cd" (posted
 *   2023-12-06, "the kill may take a long time, about 10 seconds with numerous iopf interrupts"),
 *   in "IOMMU Updates for Linux v6.8" (the iommu pull of 2024-01-10: "SMMUv3: Disable stalling mode
 *   for the "quiet" context descriptor"): the faults terminate without an event.
 * - "sva-cd" (v6.10 on): 7b87c93c8b86 "iommu/arm-smmu-v3: Move the CD generation for SVA into a
 *   function", merged in the v6.10 merge window (the mainline revlist has it next to "Merge tag
 *   'clk-imx-6.10'"); that mm_release's loop over the domain's devices is from d38c28dbefee "Put the
 *   SVA mmu notifier in the smmu_domain", v6.11 ("IOMMU Updates for Linux v6.11") - the CD written is
 *   the same. That 7b87c93c8b86 itself moved the release path to arm_smmu_make_sva_cd(NULL) is read
 *   from its title, not from its diff (not found in the sources searched):
 *   arm_smmu_make_sva_cd(&target, master, NULL, asid) writes a whole new CD: EPD0 and EPD1, V,
 *   IPS, AA64, R, A, ASET, the ASID, MAIR; T0SZ, TG0, the walk attributes and TTB0 zero ("If no MM
 *   is passed then this creates a SVA entry that faults everything"); S and R cleared unless
 *   STALL_FORCE ("Disable stall and immediately generate an abort if stall disable is permitted").
 * Then, in all three, arm_smmu_tlb_inv_asid (CMD_TLBI_NH_ASID) and arm_smmu_atc_inv_domain(.., 0, 0)
 * (CMD_ATC_INV of the whole SubstreamID on ATS masters).
 */
export type SvaReleaseCd = "quiet" | "quiet-abort" | "sva-cd";

/** The kernel of `version`'s SvaReleaseCd; a text without a version: the current kernel ("sva-cd"). */
export function smmuSvaReleaseCd(version: string): SvaReleaseCd {
  return kernelAtLeast(version, 6, 10, true) ? "sva-cd" : kernelAtLeast(version, 6, 8, true) ? "quiet-abort" : "quiet";
}

/** Linux event_class_str[] (arm-smmu-v3.c). */
const EVENT_CLASS_STR = ["CD fetch", "Stage 1 translation table fetch", "Input address caused fault", "Reserved"] as const;

/** %#x / %#llx as the kernel prints them: "0x" + hex, "0x0" for zero. */
const kx = (v: bigint | number) => `0x${v.toString(16)}`;
const q16 = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;

/** dev_printk's prefix for the SMMU platform device: "arm-smmu-v3 arm-smmu-v3.0.auto: ". */
export function smmuPrefix(device: string): string {
  return `arm-smmu-v3 ${device}: `;
}

/**
 * The lines the driver prints for one event record. `client` is the master's dev_name
 * ("0000:01:00.0"), undefined for a StreamID no master owns.
 */
export function renderEvent(raw: readonly [bigint, bigint, bigint, bigint], device: string, client: string | undefined, era: SmmuKernelEra = SMMU_CURRENT_ERA): string[] {
  const p = smmuPrefix(device);
  const e = decodeEvent(raw);
  const lines = [`${p}event 0x${e.id.toString(16).padStart(2, "0")} received:`, ...raw.map((w) => `${p}\t${q16(w)}`)];
  if (era === "4.x") return lines;
  const name = eventInfo(e.id).linux ?? "UNKNOWN";
  const who = client ?? "(unassigned sid)";
  // arm_smmu_decode_event: ssid = SSV ? SSID : IOMMU_NO_PASID (0).
  const ssid = e.ssv ? e.ssid : 0;
  const head = `${p}event: ${name} client: ${who} sid: ${kx(e.sid)} ssid: ${kx(ssid)}`;
  switch (e.id) {
    case F_TRANSLATION:
    case F_ADDR_SIZE:
    case F_ACCESS:
    case F_PERMISSION: {
      const tt = e.cls === 1 ? (e.ttRead ? " ttd_read" : " ttd_write") : "";
      lines.push(`${head} iova: ${kx(e.inputAddr)} ipa: ${kx(e.ipa)}`);
      lines.push(`${p}${e.privileged ? "priv" : "unpriv"} ${e.instruction ? "inst" : "data"} ${e.read ? "read" : "write"} ${e.s2 ? "s2" : "s1"} "${EVENT_CLASS_STR[e.cls]}"${tt}${e.stall ? " stall" : ""} stag: ${kx(e.stag)}`);
      break;
    }
    case F_STE_FETCH:
    case F_CD_FETCH:
    case F_VMS_FETCH:
      lines.push(`${head} fetch_addr: ${kx(e.fetchAddr)}`);
      break;
    default:
      lines.push(head);
  }
  return lines;
}

/**
 * A PRI queue entry as arm_smmu_handle_ppr() prints it (mainline Linux never enables PRI on a
 * device, so every Page Request is "unexpected"; dev_info):
 *   "unexpected PRI request received:\n"
 *   "\tsid 0x%08x.0x%05x: [%u%s] %sprivileged %s%s%s access at iova 0x%016llx\n"
 * with sid, ssid (0 without SSID_V), PRG index, "L" when PRG_LAST, "un" unless PERM_PRIV, R/W/X
 * from PERM_READ/WRITE/EXEC and the address (evt[1] & PRIQ_1_ADDR_MASK).
 */
export function renderPageRequest(device: string, e: readonly [bigint, bigint]): string[] {
  const p = smmuPrefix(device);
  const [e0, e1] = e;
  const bit = (n: bigint) => ((e0 >> n) & 1n) === 1n;
  const sid = e0 & 0xffffffffn;
  const ssid = bit(63n) ? (e0 >> 32n) & 0xfffffn : 0n;
  const grpid = e1 & 0x1ffn;
  const addr = e1 & ~0xfffn & 0xffffffffffffffffn;
  return [`${p}unexpected PRI request received:`, `${p}\tsid 0x${sid.toString(16).padStart(8, "0")}.0x${ssid.toString(16).padStart(5, "0")}: [${grpid}${bit(62n) ? "L" : ""}] ${bit(58n) ? "" : "un"}privileged ${bit(60n) ? "R" : ""}${bit(61n) ? "W" : ""}${bit(59n) ? "X" : ""} access at iova ${q16(addr)}`];
}

/** arm_smmu_evtq_thread, queue_sync_prod_in() == -EOVERFLOW. */
export function renderEvtqOverflow(device: string): string {
  return `${smmuPrefix(device)}EVTQ overflow detected -- events lost`;
}

/** arm_smmu_priq_thread, queue_sync_prod_in() == -EOVERFLOW (dev_err). */
export function renderPriqOverflow(device: string): string {
  return `${smmuPrefix(device)}PRIQ overflow detected -- requests lost`;
}

/** Linux cerror_str[] of __arm_smmu_cmdq_skip_err. */
const CERROR_STR = ["No error", "Illegal command", "Abort on command fetch", "ATC invalidate timeout"] as const;

/**
 * A command queue error as arm_smmu_gerror_handler() and __arm_smmu_cmdq_skip_err() print it:
 *   dev_warn "unexpected global error reported (0x%08x), this could be serious\n"
 *   dev_err  "CMDQ error (cons 0x%08x): %s\n"
 *   dev_err  "skipping command in error state:\n" and "\t0x%016llx\n" per dword.
 */
export function renderCmdqError(device: string, active: number, cons: number, cmd: readonly [bigint, bigint]): string[] {
  const p = smmuPrefix(device);
  const idx = (cons >>> 24) & 0x7f;
  const lines = [`${p}unexpected global error reported (0x${(active >>> 0).toString(16).padStart(8, "0")}), this could be serious`, `${p}CMDQ error (cons 0x${(cons >>> 0).toString(16).padStart(8, "0")}): ${CERROR_STR[idx] ?? "Unknown"}`];
  if (idx === 1 || idx > 3) lines.push(`${p}skipping command in error state:`, ...cmd.map((w) => `${p}\t${q16(w)}`));
  else if (idx === 2) lines.push(`${p}retrying command fetch`);
  return lines;
}
