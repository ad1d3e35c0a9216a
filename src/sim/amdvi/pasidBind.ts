/**
 * The `bind-pasid` / `unbind-pasid` steps on an AMD-Vi host: Linux's SVA bind
 * (iommu_sva_bind_device -> drivers/iommu/amd/pasid.c iommu_sva_set_dev_pasid ->
 * amd_iommu_set_gcr3) puts the process's page table - a v2 table in the x86-64 long-mode format,
 * here one the host builds from `maps` - into the device's GCR3 table at the PASID; unbind
 * (amd_iommu_remove_dev_pasid -> amd_iommu_clear_gcr3) clears the entry and flushes the PASID.
 * The GCR3 table and the DTE are written by AmdIommuDriver (bindPasid), so the bytes are the
 * driver's. Only `mode: first-level` exists on AMD-Vi (the v2 table is the guest/first-level table).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { PasidMapSpec, Step } from "../../scenario/types.js";
import type { DiagnosticCode } from "../../protocol/diagnostics.js";
import { v2EntryFor, type AmdIommuDriver, type LazyPage } from "./driver.js";
import { PPR_STATUS_SUCCESS, V2_A, V2_D, V2_P, V2_RW, V2_US } from "./defs.js";
import type { AmdViHost } from "./host.js";
import type { KernelLog } from "../klog.js";

/** What the steps need from the machine. */
export interface AmdPasidStepContext {
  driver: AmdIommuDriver;
  sidOf(device: string): number | undefined;
  fail(error: DiagnosticCode, summary: string): void;
  failErrno(errno: "EBUSY" | "ENOENT" | "EINVAL", summary: string): void;
  summary(text: string): void;
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
export function amdBindPasidStep(c: AmdPasidStepContext, st: Extract<Step, { op: "bind-pasid" }>): void {
  const d = c.driver;
  const sid = c.sidOf(st.device);
  if (sid === undefined) return c.fail("unknown-device", `no host device ${st.device}`);
  if (st.mode !== "first-level") return c.fail("pasid-unsupported", `AMD-Vi binds a PASID to a v2 (guest) page table only: mode ${st.mode} is VT-d's`);
  // iommu_attach_device_pasid(): -EBUSY when the PASID already has a domain.
  if (d.gcr3.get(sid)?.pasids.some(([p]) => p === st.pasid)) return c.failErrno("EBUSY", `PASID ${hex(st.pasid)} of ${st.device} is already bound`);
  // The process's page table (mm->pgd): 4 levels, leaves as the CPU's PTEs for the maps.
  const root = d.unit.mem.allocPage();
  const lazy: LazyPage[] = [];
  for (const m of st.maps) {
    for (let off = 0n; off < m.size; off += 4096n) {
      const hpa = m.hpa !== undefined ? m.hpa + off : BigInt(d.unit.mem.allocPage());
      // present: false - a page of the process not faulted in yet: no leaf; a page request maps it.
      if (m.present === false) lazy.push({ pasid: st.pasid, root, va: Number(m.va + off), leaf: hpa | v2Leaf(m) });
      else d.unit.mem.writeU64(v2EntryFor(d.unit.mem, root, m.va + off), hpa | v2Leaf(m));
    }
  }
  const r = d.bindPasid(sid, st.pasid, root);
  if ("error" in r) return c.failErrno("EINVAL", `iommu_sva_bind_device(${st.device}, PASID ${hex(st.pasid)}): -EINVAL: ${r.error}`);
  if (lazy.length > 0) d.lazyPages.set(sid, [...(d.lazyPages.get(sid) ?? []).filter((p) => p.pasid !== st.pasid), ...lazy]);
  const n = st.maps.reduce((s, m) => s + Number(m.size >> 12n), 0);
  c.summary(`PASID ${hex(st.pasid)} of ${st.device}: GCR3[${hex(st.pasid)}] at ${hex(r.entry)} -> v2 table at ${hex(root)} (GCR3 table ${hex(r.info.table)}, GLX ${r.info.glx}, domain ${r.info.domid}), ${n} page${n === 1 ? "" : "s"} mapped`);
}

export function amdUnbindPasidStep(c: AmdPasidStepContext, st: Extract<Step, { op: "unbind-pasid" }>): void {
  const sid = c.sidOf(st.device);
  if (sid === undefined) return c.fail("unknown-device", `no host device ${st.device}`);
  if (!c.driver.unbindPasid(sid, st.pasid)) return c.failErrno("ENOENT", `PASID ${hex(st.pasid)} of ${st.device} is not bound`);
  c.summary(`PASID ${hex(st.pasid)} of ${st.device} unbound: GCR3 entry cleared, INVALIDATE_IOMMU_PAGES with GN and the PASID`);
}

/** A v2 leaf: P, R/W when writable, U/S when user, A and D (unless `accessed: false`). */
function v2Leaf(m: PasidMapSpec): bigint {
  const w = m.perm !== "r";
  const ad = m.accessed === false ? 0 : V2_A | (w ? V2_D : 0);
  return BigInt(V2_P | ad | (w ? V2_RW : 0) | (m.user ? V2_US : 0));
}

/**
 * The `page-response` step on an AMD-Vi host whose PPR interrupt thread does not run by itself
 * (host.iommu.ppr-interrupt: false): the thread runs now (AmdViHost.servicePprLog: the log polled,
 * each request answered with COMPLETE_PPR, an overflow handled as the kernel's generation does),
 * and the device retries each request answered with success (a translation request with its PASID).
 */
export function amdPageResponseStep(c: AmdPasidStepContext, host: AmdViHost, st: Extract<Step, { op: "page-response" }>, out: { fault?: number; faults: number }, log: KernelLog, ns: bigint, step: number): void {
  const sid = c.sidOf(st.device);
  if (sid === undefined) return c.fail("unknown-device", `no host device ${st.device}`);
  const { answers, overflow, restarted } = host.servicePprLog(log, ns, step);
  const mine = answers.filter((a) => a.devid === sid);
  const parts: string[] = [];
  let ok = 0;
  for (const a of mine) {
    if (a.status !== PPR_STATUS_SUCCESS) {
      parts.push(`${hex(a.address)} (PASID ${hex(a.pasid)}): COMPLETE_PPR status ${a.status} (invalid); the device gives up`);
      continue;
    }
    // The device's retry: a translation request with the PASID.
    const u = host.unit;
    const r = u.translate(sid, Number(a.address >> 32n), Number(a.address & 0xffffffffn), a.write, false, a.pasid);
    if (r === 0) ok++;
    else {
      parts.push(`${hex(a.address)} (PASID ${hex(a.pasid)}): answered with success, but the retry faulted ${hex(r)}`);
      out.faults++;
      out.fault ??= r;
    }
  }
  const head = mine.length === 0 ? `no page request of ${st.device} was in the PPR log` : `${mine.length} page request${mine.length === 1 ? "" : "s"} of ${st.device} answered (COMPLETE_PPR), ${ok} retried with success`;
  const ovf = overflow ? (restarted ? "; the PPR log had overflowed (PPROverflow): the lost requests get no response, the log is restarted" : "; the PPR log had overflowed (PPROverflow) and this kernel does not restart it (before v6.6): later page requests are lost") : "";
  c.summary(`${head}${parts.length > 0 ? `: ${parts.join("; ")}` : ""}${ovf}`);
}
