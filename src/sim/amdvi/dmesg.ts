/**
 * The lines Linux's amd_iommu driver prints for an event-log entry, per kernel era
 * (drivers/iommu/amd/iommu.c iommu_print_event and amd_iommu_report_page_fault; formerly
 * drivers/iommu/amd_iommu.c). pr_fmt and dev_fmt are "AMD-Vi: " (reference §4.2). Era
 * boundaries (reference §10 item 17: from patches, versions approximate):
 *   < 4.9   printk(KERN_ERR "AMD-Vi: Event logged [") + printk("IO_PAGE_FAULT device=%02x:%02x.%x
 *           domain=0x%04x address=0x%016llx flags=0x%04x]\n"): one line (continuation);
 *   4.9     the same two printk calls print two lines (printk without KERN_CONT starts a record,
 *           v4.9 "printk: reinstate KERN_CONT"), as the 2021 pcengines/apu2-documentation#240 log shows;
 *   4.20    dev_err / pci_err with the device prefix; IO_PAGE_FAULT of a known device:
 *           pci_err(pdev, "Event logged [IO_PAGE_FAULT domain=0x%04x address=0x%llx flags=0x%04x]\n");
 *   5.19    the PCI segment in every device= ("device=%04x:%02x:%02x.%x", "Print PCI segment ID").
 * Other events (current): dev_err(iommu->iommu.dev, ...), rendered with the IOMMU's sysfs name
 * "iommu ivhd0" as the device prefix (reference §10 item 6: not verified on a real log).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { parseKernelVersion } from "../vtd/dmesg.js";
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

export type AmdEra = "3.x" | "4.9" | "4.20" | "5.19";

export function amdEra(version: string): AmdEra {
  const v = parseKernelVersion(version) ?? { major: 6, minor: 8 };
  const at = (major: number, minor: number) => v.major > major || (v.major === major && v.minor >= minor);
  if (at(5, 19)) return "5.19";
  if (at(4, 20)) return "4.20";
  if (at(4, 9)) return "4.9";
  return "3.x";
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
  const addrOld = `0x${hx(e.address, 16)}`;
  const addr = `0x${hx(e.address)}`;
  const flags = `0x${hx(e.flags, 4)}`;
  if (era === "3.x" || era === "4.9") {
    // One printk after "Event logged [": the body per type (amd_iommu.c, v3.x-v4.19).
    let body: string;
    switch (e.type) {
      case EVENT_TYPE_ILL_DEV:
        body = `ILLEGAL_DEV_TABLE_ENTRY device=${bdf(e.devid)} address=${addrOld} flags=${flags}]`;
        break;
      case EVENT_TYPE_IO_FAULT:
        body = `IO_PAGE_FAULT device=${bdf(e.devid)} domain=0x${hx(e.pasid & 0xffff, 4)} address=${addrOld} flags=${flags}]`;
        break;
      case EVENT_TYPE_DEV_TAB_ERR:
        body = `DEV_TAB_HARDWARE_ERROR device=${bdf(e.devid)} address=${addrOld} flags=${flags}]`;
        break;
      case EVENT_TYPE_PAGE_TAB_ERR:
        body = `PAGE_TAB_HARDWARE_ERROR device=${bdf(e.devid)} domain=0x${hx(e.pasid & 0xffff, 4)} address=${addrOld} flags=${flags}]`;
        break;
      case EVENT_TYPE_ILL_CMD:
        body = `ILLEGAL_COMMAND_ERROR address=${addrOld}]`;
        break;
      case EVENT_TYPE_CMD_HARD_ERR:
        body = `COMMAND_HARDWARE_ERROR address=${addrOld} flags=${flags}]`;
        break;
      case EVENT_TYPE_IOTLB_INV_TO:
        body = `IOTLB_INV_TIMEOUT device=${bdf(e.devid)} address=${addrOld}]`;
        break;
      case EVENT_TYPE_INV_DEV_REQ:
        body = `INVALID_DEVICE_REQUEST device=${bdf(e.devid)} address=${addrOld} flags=${flags}]`;
        break;
      default:
        body = `UNKNOWN type=0x${hx(e.type, 2)}]`;
    }
    const lines = era === "3.x" ? [`AMD-Vi: Event logged [${body}`] : ["AMD-Vi: Event logged [", body];
    if (e.type === EVENT_TYPE_ILL_DEV && extra.dte) for (let i = 0; i < 8; i++) lines.push(`AMD-Vi: DTE[${i}]: ${hx((extra.dte[i >> 1]! >> BigInt(32 * (i & 1))) & 0xffffffffn, 8)}`);
    if (e.type === EVENT_TYPE_ILL_CMD && extra.cmd) extra.cmd.forEach((d, i) => lines.push(`AMD-Vi: CMD[${i}]: ${hx(d >>> 0, 8)}`));
    return lines;
  }
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

/** Whether an event goes through amd_iommu_report_page_fault's per-device ratelimit (a known device's IO_PAGE_FAULT, 4.20 on). */
export function ratelimitedPerDevice(e: DecodedEvent, kernel: string, known: DeviceLookup): boolean {
  const era = amdEra(kernel);
  return e.type === EVENT_TYPE_IO_FAULT && (era === "4.20" || era === "5.19") && known(e.devid) !== undefined;
}
