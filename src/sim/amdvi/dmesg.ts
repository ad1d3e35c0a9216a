/**
 * The lines Linux's amd_iommu driver prints for an event-log entry, per kernel era
 * (drivers/iommu/amd/iommu.c iommu_print_event and amd_iommu_report_page_fault; formerly
 * drivers/iommu/amd_iommu.c). Each era was read in a release tree's source, except where noted:
 *   "3.x"  < 4.9: printk(KERN_ERR "AMD-Vi: Event logged [") + printk("IO_PAGE_FAULT device=%02x:%02x.%x
 *          domain=0x%04x address=0x%016llx flags=0x%04x]\n"): one line (continuation);
 *   "4.9"  4.9-4.12: the same two printk calls print two records (printk without KERN_CONT starts a
 *          record, v4.9 "printk: reinstate KERN_CONT"); a v4.9 tree (RobGries/4.9.0-linaro
 *          drivers/iommu/amd_iommu.c iommu_print_event); dump_dte_entry prints 4 x "AMD-Vi: DTE[%d]: %016llx";
 *   "4.13" 4.13-4.14: IO_PAGE_FAULT goes through amd_iommu_report_page_fault: a known device's
 *          dev_err(&pdev->dev, "AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x%04x address=0x%016llx
 *          flags=0x%04x]\n") behind dev_data->rs, else pr_err("AMD-Vi: Event logged [IO_PAGE_FAULT
 *          device=%02x:%02x.%x domain=0x%04x address=0x%016llx flags=0x%04x]\n"); the other events keep
 *          the two printk records (a v4.14 tree: Neternels/android_kernel_xiaomi_sunny, which still calls
 *          pci_get_bus_and_slot). The function is absent from Ubuntu's 4.10 build and present in its 4.13
 *          build (DepSurf amd_iommu_report_page_fault), so the boundary is 4.11-4.13: 4.13 is assumed;
 *   "4.15" 4.15-4.17: the other events as two dev_err(iommu->iommu.dev, ...) records, "AMD-Vi: Event logged ["
 *          then the body, both with the IOMMU's sysfs prefix "iommu ivhd0: " (a tree calling
 *          pci_get_domain_bus_and_slot, no pasid in the events; the default case is
 *          dev_err(dev, KERN_ERR "UNKNOWN event[0]=0x%08x ..."), whose embedded level bytes dmesg shows as "\x013");
 *   "4.18" 4.18-4.19: ILLEGAL_DEV_TABLE_ENTRY and INVALID_DEVICE_REQUEST print pasid=0x%05x, PAGE_TAB keeps
 *          domain=, INVALID_PPR_REQUEST is printed (the 4.19 tree in the stable patch below; 4.18 as the first
 *          version is not verified);
 *   "4.19.89" the 4.19 stable backport of 1a21ee1aabf7 "iommu/amd: Fix line-break in error log reporting"
 *          ("[PATCH 4.19 120/243]", stable list, 2019-12-11): one dev_err per event, and "AMD-Vi: " left the
 *          dev_err strings (no pr_fmt/dev_fmt in 4.19), so "<drv> 0000:BB:DD.F: Event logged [IO_PAGE_FAULT ...]";
 *   "4.20" pr_fmt and dev_fmt "AMD-Vi: ", pci_err/dev_err, address=0x%llx (reference §4.2);
 *   "5.19" the PCI segment in every device= ("device=%04x:%02x:%02x.%x", "Print PCI segment ID").
 * Other events (4.20 on): dev_err(iommu->iommu.dev, ...), rendered with the IOMMU's sysfs name
 * "iommu ivhd0" as the device prefix (reference §10 item 6: not verified on a real log).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { hasStableBackport, parseKernelVersion, versionAtLeast, type KernelVersion } from "../kernelVersion.js";
import {
  EVENT_TYPE_CMD_HARD_ERR,
  EVENT_TYPE_DEV_TAB_ERR,
  EVENT_TYPE_ILL_CMD,
  EVENT_TYPE_ILL_DEV,
  EVENT_TYPE_INV_DEV_REQ,
  EVENT_TYPE_INV_PPR_REQ,
  EVENT_TYPE_IO_FAULT,
  EVENT_TYPE_IOTLB_INV_TO,
  EVENT_TYPE_PAGE_TAB_ERR,
} from "./defs.js";

/** The kernel of `version` for the AMD-Vi log rules below; a text without a version is read as 6.8. */
function amdKernel(version: string): KernelVersion {
  return parseKernelVersion(version) ?? { major: 6, minor: 8 };
}

export type AmdEra = "3.x" | "4.9" | "4.13" | "4.15" | "4.18" | "4.19.89" | "4.20" | "5.19";

export function amdEra(version: string): AmdEra {
  const v = amdKernel(version);
  const at = (major: number, minor: number) => versionAtLeast(v, major, minor);
  if (at(5, 19)) return "5.19";
  if (at(4, 20)) return "4.20";
  if (at(4, 19)) {
    // The stable backport landed in 4.19.89 (the patch's "[PATCH 4.19 120/243]" review round of 2019-12-11).
    const sub = /^\D*\d+\.\d+\.(\d+)/.exec(version);
    return sub && Number(sub[1]) >= 89 ? "4.19.89" : "4.18";
  }
  if (at(4, 18)) return "4.18";
  if (at(4, 15)) return "4.15";
  if (at(4, 13)) return "4.13";
  if (at(4, 9)) return "4.9";
  return "3.x";
}

/**
 * Whether the kernel's AMD-Vi interrupt thread handles a PPR log overflow: v6.6 on
 * (amd_iommu_handle_irq with MMIO_STATUS_PPR_OVERFLOW_MASK and amd_iommu_restart_ppr_log; "iommu/amd:
 * Handle PPR log overflow", IOMMU updates for v6.6). Before, AMD_IOMMU_INT_MASK had no PPR overflow bit.
 */
export function handlesPprOverflow(version: string): boolean {
  return versionAtLeast(amdKernel(version), 6, 6);
}

/**
 * Whether the kernel has amd_iommu=pgtbl_v2 (v2 page tables for DMA domains, io_pgtable_v2.c):
 * v6.1 on ("iommu/amd: Add command-line option to enable different page table" and "Initial
 * support for AMD IOMMU v2 page table" in the IOMMU updates for v6.1). Older kernels do not know
 * the option: their DMA domains are v1.
 */
export function hasPgtblV2(version: string): boolean {
  return versionAtLeast(amdKernel(version), 6, 1);
}

/**
 * How the kernel builds a v2 DMA domain (amd_iommu=pgtbl_v2) and flushes it:
 *   "domain": v6.1-v6.7 - one GCR3 table per protection domain with the domain's own id
 *     (protection_domain_init_v2 -> domain_enable_v2(domain, 1): a zeroed page, GLX 0; v2_alloc_pgtable
 *     -> amd_iommu_domain_set_gcr3(0, pgd)), every device's DTE pointing at it with DomainID =
 *     domain->id; unmaps flush with __domain_flush_pages(domain, address, size, pde) ->
 *     build_inv_iommu_pages(domain->id, pde): INVALIDATE_IOMMU_PAGES without GN (read in a tree of
 *     that time), and device_flush_iotlb without GN for ATS devices;
 *   "domain-gn": v6.8 - the same table, but __domain_flush_pages(domain, address, size) sets gn
 *     for a v2 domain (pdom_is_v2_pgtbl_mode: build_inv_iommu_pages(domain->id, IOMMU_NO_PASID,
 *     gn = true); the form a patch against the tree of 2024-02-23 shows, "iommu/vt-d: Replace
 *     ioasid_t with unsigned int", before the per-device table). v6.8, not v6.7: that form has no
 *     `pde`, and the flush rework - a976da66e8e5 "iommu/amd: Remove redundant passing of PDE bit",
 *     cf62924daf9f "iommu/amd: Add support to invalidate multiple guest pages", 4f0a60079923
 *     "iommu/amd: Refactor IOMMU tlb invalidation code" - came with "IOMMU Updates for Linux v6.8"
 *     (the pull of 2024-01-10), while the AMD commits of "IOMMU Updates for Linux v6.7" (SVA part
 *     1: domain allocation, GCR3 helpers, iommu_v2 and PPR removal, ATS/PASID/PRI flags) change no
 *     flush, and v6.7's set_dte_entry still tests PD_IOMMUV2_MASK (the merge resolution in that
 *     pull). Which of the three v6.8 commits set gn was not read (their diffs were not found);
 *   "device": v6.9 on - each device's own GCR3 table with its own id (setup_gcr3_table,
 *     gcr3_info.domid) and domain_flush_pages_v2 per device (the model's driver.ts default).
 */
export function v2DomainLayout(version: string): "domain" | "domain-gn" | "device" {
  const v = amdKernel(version);
  const at = (minor: number) => versionAtLeast(v, 6, minor);
  return at(9) ? "device" : at(8) ? "domain-gn" : "domain";
}

/**
 * What the kernel's AMD-Vi interrupt thread does when the event log overflowed (Status.EventOverflow):
 *   "none": before 5ce97f4ec5e0 "iommu/amd: Recover from event log overflow" - AMD_IOMMU_INT_MASK is
 *     EVT_INT | PPR_INT | GALOG_INT, so amd_iommu_int_thread polls the log but never clears
 *     EventOverflow nor restarts the log: "logging of EVT/PPR/GA events will cease entirely" (the
 *     commit message), silently;
 *   "restart": that commit (mainline v5.17; stable 5.15.27, 5.10.104 and 5.16.13 - the "[PATCH 5.10
 *     030/105]", 5.15.27-rc1 and "[PATCH 5.16 000/186] 5.16.13-rc1" review rounds of 2022-03-07 each
 *     list "iommu/amd: Recover from event log overflow"):
 *     MMIO_STATUS_EVT_OVERFLOW_INT_MASK joins AMD_IOMMU_INT_MASK (cleared W1C with the other bits at
 *     the loop's top), then pr_info_ratelimited("IOMMU event log overflow\n") and
 *     amd_iommu_restart_event_logging: iommu_feature_disable(CONTROL_EVT_LOG_EN), then enable;
 *   "restart-log": v6.6 on (amd_iommu_int_thread_evtlog -> amd_iommu_handle_irq("Evt",
 *     MMIO_STATUS_EVT_INT_MASK, MMIO_STATUS_EVT_OVERFLOW_MASK, iommu_poll_events,
 *     amd_iommu_restart_event_logging) -> amd_iommu_restart_log: nothing while EventLogRun is 1, else
 *     "IOMMU Event log restarting" and the log restarted).
 */
export function eventOverflowHandling(version: string): "none" | "restart" | "restart-log" {
  if (handlesPprOverflow(version)) return "restart-log";
  const v = amdKernel(version);
  if (versionAtLeast(v, 5, 17)) return "restart";
  return hasStableBackport(version, [[5, 16, 13], [5, 15, 27], [5, 10, 104]]) ? "restart" : "none";
}

/**
 * The line of a log overflow. v6.6 on: amd_iommu_restart_log (init.c, pr_fmt "AMD-Vi: ")
 * pr_info_ratelimited("IOMMU %s log restarting\n", evt_type) with "Event", "PPR" or "GA" (printed
 * when the log's Run bit is 0). Before: the event log's pr_info_ratelimited("IOMMU event log
 * overflow\n") in amd_iommu_int_thread (reference §4.2); no PPR line.
 */
export function logOverflowLine(log: "Event" | "PPR" | "GA", version: string): string {
  return handlesPprOverflow(version) ? `AMD-Vi: IOMMU ${log} log restarting` : "AMD-Vi: IOMMU event log overflow";
}

/**
 * What the kernel's AMD-Vi interrupt thread does when the GA log overflowed (Status.GALogOverflow):
 *   "none": before af47b0a24058 "iommu/amd: Handle GALog overflows" - AMD_IOMMU_INT_MASK has
 *     GALOG_INT but not GALOG_OVERFLOW, so the overflow bit is never cleared and the log stays
 *     stopped, silently: every later GA log entry is lost (no vCPU wake-up through the GA log);
 *   "restart-ga": that commit (applied for v6.4 - Joerg Roedel's IOMMU fixes pull, "Guest IRQ
 *     handling fixes and GALOG overflow fix" - and stable 6.3.7, in the "[PATCH 6.3 000/286]
 *     6.3.7-rc1 review" list, and 6.1.33: Sasha Levin's pending-6.1 of 2023-06-06 has it, as
 *     0ede40165339, after "Linux 6.1.32", and the linux-rolling-lts push of 2023-06-09 (then 6.1.y)
 *     as 817ce9b1d27e; not 5.15 - its pending-5.15 of that day, after "Linux 5.15.115", took only
 *     "Don't block updates to GATag if guest mode is on" - nor 5.4; a 6.2.y had ended by then):
 *     GALOG_OVERFLOW joins AMD_IOMMU_INT_MASK, the log is polled, then
 *     pr_info_ratelimited("IOMMU GA Log overflow\n") and amd_iommu_restart_ga_log: nothing while
 *     GALogRun is 1, else pr_info_ratelimited("IOMMU GA Log restarting\n") and the restart;
 *   "restart-log": v6.6 on (amd_iommu_int_thread_galog -> amd_iommu_handle_irq("GA",
 *     MMIO_STATUS_GALOG_INT_MASK, MMIO_STATUS_GALOG_OVERFLOW_MASK, iommu_poll_ga_log,
 *     amd_iommu_restart_ga_log) -> amd_iommu_restart_log(iommu, "GA", ...): "IOMMU GA log restarting").
 */
export function gaOverflowHandling(version: string): "none" | "restart-ga" | "restart-log" {
  if (handlesPprOverflow(version)) return "restart-log";
  const v = amdKernel(version);
  if (versionAtLeast(v, 6, 4)) return "restart-ga";
  return hasStableBackport(version, [[6, 3, 7], [6, 1, 33]]) ? "restart-ga" : "none";
}

/** One event as iommu_print_event decodes it (EVENT_* shifts and masks, reference §4.1). */
export interface DecodedEvent {
  type: number;
  devid: number;
  /** (event[0] & 0xf0000) | (event[1] & 0xffff): the domain id of an IO_PAGE_FAULT, else the PASID. */
  pasid: number;
  flags: number;
  address: bigint;
  words: readonly [number, number, number, number];
}

export function decodeEvent(w: readonly [number, number, number, number]): DecodedEvent {
  return {
    type: (w[1] >>> 28) & 0xf,
    devid: w[0] & 0xffff,
    pasid: (w[0] & 0xf0000) | (w[1] & 0xffff),
    flags: (w[1] >>> 16) & 0xfff,
    address: (BigInt(w[3] >>> 0) << 32n) | BigInt(w[2] >>> 0),
    words: w,
  };
}

/** What the driver knows of a device id: its bound driver's name (dev_driver_string), when the PCI device exists. */
export interface DeviceLookup {
  (devid: number): { driver: string } | undefined;
}

const hx = (n: number | bigint, w = 0) => n.toString(16).padStart(w, "0");
const bdf = (devid: number) => `${hx(devid >> 8, 2)}:${hx((devid >> 3) & 0x1f, 2)}.${devid & 7}`;
const segBdf = (devid: number) => `0000:${bdf(devid)}`;

/**
 * The lines of one event (no timestamp). `ctrl` is the Control register (printed after
 * ILLEGAL_DEV_TABLE_ENTRY), `dte` the entry's four qwords, `cmd` the command's four dwords.
 * IO_PAGE_FAULT of a known device passes the per-device ratelimit first (the caller's).
 */
export function renderEvent(e: DecodedEvent, kernel: string, known: DeviceLookup, extra: { ctrl?: bigint; dte?: readonly bigint[]; cmd?: readonly number[] } = {}): string[] {
  const era = amdEra(kernel);
  if (era !== "4.20" && era !== "5.19") return renderOld(e, era, known, extra);
  const addr = `0x${hx(e.address)}`;
  const flags = `0x${hx(e.flags, 4)}`;
  const dev = era === "5.19" ? segBdf(e.devid) : bdf(e.devid);
  const iommu = "iommu ivhd0: AMD-Vi: ";
  switch (e.type) {
    case EVENT_TYPE_IO_FAULT: {
      const k = known(e.devid);
      if (k) return [`${k.driver} ${segBdf(e.devid)}: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x${hx(e.pasid & 0xffff, 4)} address=${addr} flags=${flags}]`];
      return [`AMD-Vi: Event logged [IO_PAGE_FAULT device=${dev} domain=0x${hx(e.pasid & 0xffff, 4)} address=${addr} flags=${flags}]`];
    }
    case EVENT_TYPE_ILL_DEV: {
      const lines = [`${iommu}Event logged [ILLEGAL_DEV_TABLE_ENTRY device=${dev} pasid=0x${hx(e.pasid, 5)} address=${addr} flags=${flags}]`];
      if (extra.ctrl !== undefined) lines.push(`${iommu}Control Reg : 0x${hx(extra.ctrl)}`);
      if (extra.dte) extra.dte.forEach((q, i) => lines.push(`AMD-Vi: DTE[${i}]: ${hx(q, 16)}`));
      return lines;
    }
    case EVENT_TYPE_DEV_TAB_ERR:
      return [`${iommu}Event logged [DEV_TAB_HARDWARE_ERROR device=${dev} address=${addr} flags=${flags}]`];
    case EVENT_TYPE_PAGE_TAB_ERR:
      return [`${iommu}Event logged [PAGE_TAB_HARDWARE_ERROR device=${dev} pasid=0x${hx(e.pasid, 4)} address=${addr} flags=${flags}]`];
    case EVENT_TYPE_ILL_CMD:
      return [`${iommu}Event logged [ILLEGAL_COMMAND_ERROR address=${addr}]`, ...(extra.cmd ?? []).map((d, i) => `AMD-Vi: CMD[${i}]: ${hx(d >>> 0, 8)}`)];
    case EVENT_TYPE_CMD_HARD_ERR:
      return [`${iommu}Event logged [COMMAND_HARDWARE_ERROR address=${addr} flags=${flags}]`];
    case EVENT_TYPE_IOTLB_INV_TO:
      return [`${iommu}Event logged [IOTLB_INV_TIMEOUT device=${dev} address=${addr}]`];
    case EVENT_TYPE_INV_DEV_REQ:
      return [`${iommu}Event logged [INVALID_DEVICE_REQUEST device=${dev} pasid=0x${hx(e.pasid, 5)} address=${addr} flags=${flags}]`];
    case EVENT_TYPE_INV_PPR_REQ:
      return [`${iommu}Event logged [INVALID_PPR_REQUEST device=${dev} pasid=0x${hx(e.pasid, 5)} address=${addr} flags=${flags} tag=0x${hx(e.words[1] & 0x3ff, 3)}]`];
    default:
      return [`${iommu}Event logged [UNKNOWN event[0]=0x${hx(e.words[0] >>> 0, 8)} event[1]=0x${hx(e.words[1] >>> 0, 8)} event[2]=0x${hx(e.words[2] >>> 0, 8)} event[3]=0x${hx(e.words[3] >>> 0, 8)}`];
  }
}

/** Whether an event goes through amd_iommu_report_page_fault's per-device ratelimit (a known device's IO_PAGE_FAULT, 4.13 on). */
export function ratelimitedPerDevice(e: DecodedEvent, kernel: string, known: DeviceLookup): boolean {
  const era = amdEra(kernel);
  return e.type === EVENT_TYPE_IO_FAULT && era !== "3.x" && era !== "4.9" && known(e.devid) !== undefined;
}

/**
 * iommu_print_event's default case before 4.20: < 4.15 printk(KERN_ERR "UNKNOWN type=0x%02x]\n");
 * 4.15 dev_err(dev, KERN_ERR "UNKNOWN event[0]=0x%08x event[1]=0x%08x event[2]=0x%08x event[3]=0x%08x\n"),
 * the level's SOH byte and digit inside the message, as dmesg(1) escapes them ("\x01" + "3");
 * 4.18 on: no level and, as today, no closing "]".
 */
function unknownBody(e: DecodedEvent, era: AmdEra): string {
  if (era === "3.x" || era === "4.9" || era === "4.13") return `UNKNOWN type=0x${hx(e.type, 2)}]`;
  const w = e.words.map((x) => `0x${hx(x >>> 0, 8)}`);
  const raw = `UNKNOWN event[0]=${w[0]} event[1]=${w[1]} event[2]=${w[2]} event[3]=${w[3]}`;
  return era === "4.15" ? `\\x013${raw}` : raw;
}

/**
 * Before 4.20 (amd_iommu.c): every address is 0x%016llx and device= has no segment. The body of
 * each event per era; the record split and prefixes per era (see the header). The domain of an
 * IO_PAGE_FAULT is the DecodedEvent's low 16 bits of domid/pasid (4.9-4.17: EVENT_DOMID_SHIFT/MASK,
 * event[1] & 0xffff).
 */
function renderOld(e: DecodedEvent, era: AmdEra, known: DeviceLookup, extra: { dte?: readonly bigint[]; cmd?: readonly number[] }): string[] {
  const addr = `0x${hx(e.address, 16)}`;
  const flags = `0x${hx(e.flags, 4)}`;
  const dev = bdf(e.devid);
  const dom = `0x${hx(e.pasid & 0xffff, 4)}`;
  const withPasid = era === "4.18" || era === "4.19.89";
  const pasid = withPasid ? ` pasid=0x${hx(e.pasid, 5)}` : "";
  const dumps = (): string[] => {
    const out: string[] = [];
    // dump_dte_entry: pr_err("AMD-Vi: DTE[%d]: %016llx\n") over the four u64 of a dev_table_entry (v4.9 tree; assumed for 3.x, whose tree was not read).
    if (e.type === EVENT_TYPE_ILL_DEV && extra.dte) extra.dte.forEach((q, i) => out.push(`AMD-Vi: DTE[${i}]: ${hx(q, 16)}`));
    if (e.type === EVENT_TYPE_ILL_CMD && extra.cmd) extra.cmd.forEach((d, i) => out.push(`AMD-Vi: CMD[${i}]: ${hx(d >>> 0, 8)}`));
    return out;
  };
  if (e.type === EVENT_TYPE_IO_FAULT && era !== "3.x" && era !== "4.9") {
    // amd_iommu_report_page_fault: dev_err of a known device (4.19.89: without "AMD-Vi: "), else pr_err.
    const k = known(e.devid);
    if (k) return [`${k.driver} ${segBdf(e.devid)}: ${era === "4.19.89" ? "" : "AMD-Vi: "}Event logged [IO_PAGE_FAULT domain=${dom} address=${addr} flags=${flags}]`];
    return [`AMD-Vi: Event logged [IO_PAGE_FAULT device=${dev} domain=${dom} address=${addr} flags=${flags}]`];
  }
  let body: string;
  switch (e.type) {
    case EVENT_TYPE_ILL_DEV:
      body = `ILLEGAL_DEV_TABLE_ENTRY device=${dev}${pasid} address=${addr} flags=${flags}]`;
      break;
    case EVENT_TYPE_IO_FAULT:
      body = `IO_PAGE_FAULT device=${dev} domain=${dom} address=${addr} flags=${flags}]`;
      break;
    case EVENT_TYPE_DEV_TAB_ERR:
      body = `DEV_TAB_HARDWARE_ERROR device=${dev} address=${addr} flags=${flags}]`;
      break;
    case EVENT_TYPE_PAGE_TAB_ERR:
      body = `PAGE_TAB_HARDWARE_ERROR device=${dev} domain=${dom} address=${addr} flags=${flags}]`;
      break;
    case EVENT_TYPE_ILL_CMD:
      body = `ILLEGAL_COMMAND_ERROR address=${addr}]`;
      break;
    case EVENT_TYPE_CMD_HARD_ERR:
      body = `COMMAND_HARDWARE_ERROR address=${addr} flags=${flags}]`;
      break;
    case EVENT_TYPE_IOTLB_INV_TO:
      body = `IOTLB_INV_TIMEOUT device=${dev} address=${addr}]`;
      break;
    case EVENT_TYPE_INV_DEV_REQ:
      body = `INVALID_DEVICE_REQUEST device=${dev}${pasid} address=${addr} flags=${flags}]`;
      break;
    case EVENT_TYPE_INV_PPR_REQ:
      // Before 4.18 iommu_print_event had no INVALID_PPR_REQUEST case: the default's text.
      // 4.19: pasid = ((event[0] >> 16) & 0xFFFF) | ((event[1] << 6) & 0xF0000) (the stable patch's context).
      body = withPasid ? `INVALID_PPR_REQUEST device=${dev} pasid=0x${hx((((e.words[0] >>> 16) & 0xffff) | ((e.words[1] << 6) & 0xf0000)) >>> 0, 5)} address=${addr} flags=${flags}]` : unknownBody(e, era);
      break;
    default:
      body = unknownBody(e, era);
  }
  if (era === "3.x") return [`AMD-Vi: Event logged [${body}`, ...dumps()];
  if (era === "4.9" || era === "4.13") return ["AMD-Vi: Event logged [", body, ...dumps()];
  const iommu = "iommu ivhd0: ";
  if (era === "4.19.89") return [`${iommu}Event logged [${body}`, ...dumps()];
  return [`${iommu}AMD-Vi: Event logged [`, `${iommu}${body}`, ...dumps()];
}
