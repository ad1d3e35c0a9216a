/**
 * The `bind-pasid` / `unbind-pasid` steps (scalable mode): what Linux does to give a device's PASID
 * an address space — iommu_sva_bind_device() (a process's first-level page table, PGTT = 001),
 * iommu_attach_device_pasid() with a paging domain (second-level, 010) or an identity domain
 * (pass-through, 100), and iommufd's nested HWPT (the guest's first-level table in guest memory,
 * walked through a nesting-parent second-level domain that maps the VM's RAM, PGTT = 011) — and
 * intel_pasid_tear_down_entry() on unbind. The PASID entry is written by IntelIommuDriver
 * (setPasidEntry), the tables by its table writer (entryAddressIn), so the bytes are the driver's.
 */
import type { GuestMemory } from "../kvm.js";
import type { PasidMapSpec, Step } from "../../scenario/types.js";
import type { DiagnosticCode } from "../../protocol/diagnostics.js";
import { prqPrivateDataHandling, type IntelIommuDriver } from "./driver.js";
import { FL_A, FL_D, FL_P, FL_RW, FL_US } from "./flpt.js";
import { PGTT_FL, PGTT_NESTED, PGTT_PT, PGTT_SL } from "./scalable.js";
import { QI_RESP_FAILURE, QI_RESP_INVALID, QI_RESP_SUCCESS } from "./qi.js";
import { PageRequestFate } from "./unit.js";
import { DMAR_PEADDR_REG, DMAR_PECTL_REG, DMAR_PEDATA_REG, DMAR_PQH_REG, DMAR_PQT_REG, PECTL_IM, PECTL_IP } from "./regs.js";
import { plural } from "../plural.js";

/** What the steps need from the machine. */
export interface PasidStepContext {
  driver: IntelIommuDriver;
  /** Requester id of a host device, undefined when there is none. */
  sidOf(device: string): number | undefined;
  /** A VM's guest memory and whether it runs (its RAM is backed). */
  vm(name: string): { running: boolean; guest: GuestMemory } | undefined;
  fail(error: DiagnosticCode, summary: string): void;
  failErrno(errno: "EBUSY" | "ENOENT" | "EINVAL", summary: string): void;
  summary(text: string): void;
  /** The host's kernel version (host.kernel), for the handler's lines of its generation. */
  kernel?: string;
  /** Appends a line to the host's kernel log (dmesg) at this step. */
  dmesg?(line: string): void;
  /**
   * The device's retry of one page after a Success page group response: a Translation Request with
   * the PASID, through the unit's DMA path (HostIommu.translateRun), so it is a DMA trace row of
   * this step with its result. Returns the fault reason (0: translated) and the HPA.
   */
  retry(sid: number, pasid: number, iova: bigint, write: boolean): { code: number; hpa: bigint };
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

export function bindPasidStep(c: PasidStepContext, st: Extract<Step, { op: "bind-pasid" }>): void {
  const d = c.driver;
  if (!d.scalable) return c.fail("pasid-unsupported", `PASID ${hex(st.pasid)}: the unit is in legacy mode (no PASID table)`);
  const sid = c.sidOf(st.device);
  if (sid === undefined) return c.fail("unknown-device", `no host device ${st.device}`);
  if (d.pasidDirectory(sid) === undefined) return c.fail("pasid-unsupported", `${st.device} has no PASID table (not attached to a domain)`);
  // iommu_attach_device_pasid(): -EBUSY when the PASID already has a domain.
  if (d.bindings.has(sid * 1048576 + st.pasid)) return c.failErrno("EBUSY", `PASID ${hex(st.pasid)} of ${st.device} is already bound`);
  const levels = d.unit.haw >= 57 ? 5 : 4;
  const o = { sre: st.supervisor, wpe: st.wpe, slade: st.dirtyTracking === true };
  switch (st.mode) {
    case "pass-through": {
      const did = d.allocDid();
      d.setPasidEntry(sid, st.pasid, PGTT_PT, did, 0, 0, 4, o);
      return c.summary(`PASID ${hex(st.pasid)} of ${st.device}: pass-through (DID ${did})`);
    }
    case "second-level": {
      const dom = d.allocDomain(false, true);
      for (const m of st.maps) for (const [va, hpa] of pages(d, m)) d.map(dom, va, hpa, 4096n, m.perm === "r" ? 1 : m.perm === "w" ? 2 : 3);
      d.setPasidEntry(sid, st.pasid, PGTT_SL, dom.did, dom.pgd, 0, 4, o);
      return c.summary(`PASID ${hex(st.pasid)} of ${st.device}: second-level tables at ${hex(dom.pgd)} (DID ${dom.did}), ${pagesText(st.maps)}`);
    }
    case "first-level": {
      // iommu_sva_bind_device(): the process's page table; here one the host builds from `maps`.
      const did = d.allocDid();
      const root = d.allocPage();
      for (const m of st.maps) {
        if (m.present === false) continue; // not faulted in yet: a page request brings it in (pageResponseStep)
        for (const [va, hpa] of pages(d, m)) {
          const at = d.entryAddressIn(root, levels, true, va, 1, true)!;
          d.mem.writeU64(at, hpa | flAttr(m));
        }
      }
      d.svaMm.set(sid * 1048576 + st.pasid, { root, levels, maps: st.maps });
      d.setPasidEntry(sid, st.pasid, PGTT_FL, did, 0, root, levels, o);
      return c.summary(`PASID ${hex(st.pasid)} of ${st.device}: first-level tables at ${hex(root)} (DID ${did}), ${pagesText(st.maps)}`);
    }
    case "nested": {
      const vm = c.vm(st.guestVm ?? "");
      if (vm === undefined || !vm.running) return c.fail("vm-not-running", `VM ${st.guestVm ?? "?"} is not running: its guest RAM (the second level of a nested bind) is not backed yet`);
      const g = vm.guest;
      // The nesting parent: a second-level domain mapping the VM's RAM IOVA = GPA (IOMMU_HWPT_ALLOC_NEST_PARENT + IOAS maps).
      const parent = d.allocDomain(false, true);
      for (const slot of g.memslots) {
        let off = 0n;
        while (off < slot.size) {
          const r = g.resolve(slot.hva + off);
          if (r === undefined) break;
          const len = r.contiguous < slot.size - off ? r.contiguous : slot.size - off;
          d.map(parent, slot.gpa + off, r.hpa, len, 3);
          off += len;
        }
      }
      // The guest's first-level table, written by the guest driver into guest RAM (GPA), from the top of low RAM down.
      const ram = g.ramView(d.mem);
      const allocGuest = () => {
        const gpa = d.allocGuestTablePage(st.guestVm!, Number(lowRamTop(g)));
        for (let i = 0; i < 512; i++) ram.writeU64(gpa + i * 8, 0n);
        return gpa;
      };
      const root = allocGuest();
      const read = (gpa: number) => ram.readU64(gpa);
      const write = (gpa: number, v: bigint) => void ram.writeU64(gpa, v);
      for (const m of st.maps) {
        for (let off = 0n; off < m.size; off += 4096n) {
          const at = d.entryAddressIn(root, levels, true, m.va + off, 1, true, allocGuest, write, read)!;
          write(at, (m.gpa! + off) | flAttr(m));
        }
      }
      const did = d.allocDid();
      d.setPasidEntry(sid, st.pasid, PGTT_NESTED, did, parent.pgd, root, levels, o);
      return c.summary(`PASID ${hex(st.pasid)} of ${st.device}: nested, guest first-level table at GPA ${hex(root)} over the second level of ${st.guestVm} (DID ${did}, parent DID ${parent.did})`);
    }
  }
}

export function unbindPasidStep(c: PasidStepContext, st: Extract<Step, { op: "unbind-pasid" }>): void {
  const sid = c.sidOf(st.device);
  if (sid === undefined) return c.fail("unknown-device", `no host device ${st.device}`);
  if (!c.driver.tearDownPasid(sid, st.pasid)) return c.failErrno("ENOENT", `PASID ${hex(st.pasid)} of ${st.device} is not bound`);
  c.summary(`PASID ${hex(st.pasid)} of ${st.device} unbound: PASID entry cleared, PASID-cache and IOTLB invalidated`);
}

/**
 * The `page-response` step: Linux's page request handler (IntelIommuDriver.servicePrq, v6.5
 * prq_event_thread, with its lines for rejected requests and a queue overflow) with
 * iommu_sva_handle_iopf (drivers/iommu/iommu-sva.c) as the fault handler - vma_lookup in the bound
 * process's mappings (none: IOMMU_PAGE_RESP_INVALID), the access against the vma's permissions (a
 * write to a read-only one: INVALID), else handle_mm_fault, which populates the first-level leaf,
 * and IOMMU_PAGE_RESP_SUCCESS - then the page group response the driver queues, and the device's
 * retry of each answered Translation Request (PCIe PRI: after a Success response the device
 * translates again; after Invalid Request it gives up).
 */
export function pageResponseStep(c: PasidStepContext, st: Extract<Step, { op: "page-response" }>, out: { fault?: number; faults: number; pasid?: number }): void {
  const d = c.driver;
  const sid = c.sidOf(st.device);
  if (sid === undefined) return c.fail("unknown-device", `no host device ${st.device}`);
  if (d.prq === 0) return c.fail("pasid-unsupported", "the unit has no page request queue (host.iommu.pri lists no device, or the unit is in legacy mode)");
  if (!d.prqInterruptPending) {
    // prq_event_thread is the page request interrupt's threaded handler: without an interrupt it does not run.
    const waiting = ((Number(d.unit.readReg64(DMAR_PQT_REG)) - Number(d.unit.readReg64(DMAR_PQH_REG))) & ((0x1000 << d.prqOrder) - 1)) >> 5;
    const masked = (d.unit.readReg32(DMAR_PECTL_REG) & PECTL_IM) !== 0;
    return c.summary(`no page request interrupt since Linux's handler last ran${masked ? " (PECTL.IM masks the page request event; PECTL.IP holds it)" : ""}: prq_event_thread did not run${waiting > 0 ? `; ${plural(waiting, "page request")} wait${waiting === 1 ? "s" : ""} in the queue` : ""}`);
  }
  const { handled, lines } = d.servicePrq((rid, pasid, addr, write) => {
    const mm = d.svaMm.get(rid * 1048576 + pasid);
    const m = mm?.maps.find((x) => addr >= x.va && addr < x.va + x.size);
    if (mm === undefined || m === undefined) return QI_RESP_INVALID;
    if (write && m.perm === "r") return QI_RESP_INVALID;
    const at = d.entryAddressIn(mm.root, mm.levels, true, addr, 1, true)!;
    if (((d.mem.readU64(at) ?? 0n) & BigInt(FL_P)) === 0n) d.mem.writeU64(at, (m.hpa !== undefined ? m.hpa + (addr - m.va) : BigInt(d.allocPage())) | flAttr(m));
    return QI_RESP_SUCCESS;
  }, c.kernel);
  for (const l of lines) c.dmesg?.(l);
  const mine = handled.filter((h) => h.rid === sid);
  const overflow = lines.filter((l) => / PRQ overflow /.test(l)).map((l) => l.replace(/^IOMMU: \S+: /, ""));
  if (mine.length === 0) return c.summary(`no page request of ${st.device} was pending${overflow.length > 0 ? `; ${overflow.join(", ")}` : ""}`);
  const parts: string[] = [];
  const waiting = mine.filter((h) => h.code === undefined && h.rejected === undefined).length;
  const pdp = prqPrivateDataHandling(c.kernel);
  for (const h of mine) {
    const pd = h.privateData !== undefined ? (pdp === "echo" ? `, private data ${hex(h.privateData)} echoed` : `, private data ${hex(h.privateData)} not echoed (PDP set, data cleared: kernels before 1d421058c815, v5.13)`) : h.pdpIgnored ? ", private data ignored (PDP not read since v6.10)" : "";
    const what = `PRG ${h.prgi} (${h.pasidPresent ? `PASID ${hex(h.pasid)}, ` : "no PASID, "}${h.write ? "write" : "read"} ${hex(h.addr)}${h.group.length > 1 ? `, ${h.group.length} pages` : ""}${pd})`;
    if (h.rejected !== undefined) {
      parts.push(`${what}: rejected (${h.rejected})${h.code === undefined ? ", not the last of its group: no response" : h.code === QI_RESP_FAILURE ? "; Response Failure: the device's page request interface halts (kernels before v5.12)" : "; Invalid Request, the device gives up"}`);
      continue;
    }
    if (h.code === undefined) continue;
    if (h.code !== QI_RESP_SUCCESS) {
      parts.push(`${what}: Invalid Request; the device gives up`);
      continue;
    }
    // The device's retry of each page of the group: a Translation Request with the PASID (ATS; the Device-TLB fills on success).
    const got: string[] = [];
    for (const g of h.group) {
      out.pasid ??= g.pasid;
      const { code: r, hpa } = c.retry(g.rid, g.pasid, g.addr, g.write);
      if (r === 0) got.push(hex(hpa));
      else {
        got.push(`fault 0x${r.toString(16).padStart(2, "0")}`);
        out.faults++;
        out.fault ??= r;
      }
    }
    parts.push(got.every((x) => x.startsWith("0x")) ? `${what}: Success; the retried Translation Request got HPA ${got.join(", ")}` : `${what}: Success, but the retry faulted ${got.filter((x) => x.startsWith("fault")).join(", ").replace(/fault /g, "")}`);
  }
  if (waiting > 0) parts.push(`${waiting} request${waiting === 1 ? "" : "s"} of a group without its last page: held back${overflow.some((l) => l.startsWith("PRQ overflow cleared")) ? ", then discarded with the overflow (iopf_queue_discard_partial)" : ""}`);
  // A long run of groups: the first three and the last, with the count between.
  const shown = parts.length > 6 ? [...parts.slice(0, 3), `… ${parts.length - 4} more …`, parts[parts.length - 1]!] : parts;
  c.summary(`page requests handled, page group responses queued: ${shown.join("; ")}${overflow.length > 0 ? `; ${overflow.join(", ")}` : ""}`);
}

/**
 * The `page-request` step: a PCIe Page Request Message from a PRI device (VT-d 7.4.1.1), as a
 * device sends it without a failed Translation Request first (or with fields a well-behaved
 * device would not set): `pages` requests of consecutive pages in one group, the last with LPIG
 * unless `last: false`. The unit queues each (unit.ts pageRequest), or, with the queue full or
 * PRS.PRO set, drops it - answering the last of a group itself with Success.
 */
export function pageRequestStep(c: PasidStepContext, st: Extract<Step, { op: "page-request" }>): void {
  const d = c.driver;
  const u = d.unit;
  const sid = c.sidOf(st.device);
  if (sid === undefined) return c.fail("unknown-device", `no host device ${st.device}`);
  if (d.prq === 0) return c.fail("pasid-unsupported", "the unit has no page request queue (host.iommu.pri lists no device, or the unit is in legacy mode)");
  if (!u.priSids.has(sid)) return c.fail("pasid-unsupported", `${st.device} has no PRI capability Linux enabled (list it in host.iommu.pri)`);
  if (st.privateData !== undefined && u.spec.prqPrivateData !== true) return c.fail("invalid-value", "private data in page requests is VT-d 3.x (removed in 4.0): set host.iommu.prq-private-data: true");
  const prgi = st.prgi ?? u.nextPrgi;
  if (st.prgi === undefined) u.nextPrgi = (u.nextPrgi + 1) & 0x1ff;
  let queued = 0;
  let dropped = 0;
  let auto = 0;
  const irqs = u.prInterrupts;
  for (let i = 0; i < st.pages; i++) {
    const last = st.last && i === st.pages - 1;
    const f = u.pageRequest(sid, st.pasid ?? -1, st.address + BigInt(i) * 4096n, st.write, st.privileged, st.exec, prgi, last, st.read, st.privateData);
    if (f === PageRequestFate.Queued) queued++;
    else if (f === PageRequestFate.AutoResponded) auto++;
    else dropped++;
  }
  const lost = dropped + auto;
  // A lost request with private data needs an answer too (unit.ts pageRequest): each one is answered.
  const answered = auto === 0 ? "" : st.privateData !== undefined ? `; the unit answered ${auto === 1 ? "it" : `all ${auto}`} itself with Success (private data needs a response, VT-d 3.x)` : "; the unit answered the last one itself with Success";
  c.summary(`${plural(st.pages, "page request")} of ${st.device} (PRG ${prgi}${st.pasid !== undefined ? `, PASID ${hex(st.pasid)}` : ", no PASID"}): ${queued} queued${lost > 0 ? `, ${lost} lost to a full page request queue (PRS.PRO set)${answered}` : ""}${pageRequestEventText(u, irqs)}`);
}

/**
 * What the page request event did during a step (unit.ts pageRequestEvent): the interrupt sent
 * (PEDATA to PEADDR), held in PECTL.IP because IM masks it, or nothing (PRS.PPR / PRO were set).
 */
function pageRequestEventText(u: PasidStepContext["driver"]["unit"], before: number): string {
  if (u.prInterrupts !== before) return `; page request interrupt sent (PEDATA ${hex(u.readReg32(DMAR_PEDATA_REG))} to PEADDR ${hex(u.readReg32(DMAR_PEADDR_REG))})`;
  if (u.readReg32(DMAR_PECTL_REG) & PECTL_IP) return "; the page request event is pending in PECTL.IP (PECTL.IM masks it)";
  return "";
}

/**
 * A first-level leaf for a mapping: P, R/W when writable, U/S when user, A, and D when writable
 * (the bits Linux's __domain_mapping() and the CPU's page tables set for a present page); without
 * A and D for `accessed: false` (a page the CPU never touched: the IOMMU sets them, flpt.ts).
 */
function flAttr(m: PasidMapSpec): bigint {
  const w = m.perm !== "r";
  const ad = m.accessed === false ? 0 : FL_A | (w ? FL_D : 0);
  return BigInt(FL_P | ad | (w ? FL_RW : 0) | (m.user ? FL_US : 0));
}

/** The (va, hpa) pages of a mapping: the given host pages, or pages the host allocates. */
function* pages(d: IntelIommuDriver, m: PasidMapSpec): Generator<[bigint, bigint]> {
  for (let off = 0n; off < m.size; off += 4096n) yield [m.va + off, m.hpa !== undefined ? m.hpa + off : BigInt(d.allocPage())];
}

function pagesText(maps: readonly PasidMapSpec[]): string {
  const n = maps.reduce((s, m) => s + Number(m.size >> 12n), 0);
  return `${n} page${n === 1 ? "" : "s"} mapped`;
}

/** The top of the first memslot (low RAM): guest table pages are taken from there downwards. */
function lowRamTop(g: GuestMemory): bigint {
  const s = g.memslots[0];
  return s === undefined ? 0n : s.gpa + s.size;
}
