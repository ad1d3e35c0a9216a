/**
 * The `bind-pasid` / `unbind-pasid` steps on an SMMUv3 host (HostIommu.pasidStep): what Linux's
 * arm-smmu-v3 does for iommu_attach_device_pasid / iommu_detach_device_pasid of a PCI master with
 * a PASID capability (host.iommu.pasid): a stage-1 paging domain of its own (a new ASID) holding
 * `maps`, its CD written at SubstreamID = PASID of the master's CD table (arm_smmu_s1_set_dev_pasid
 * -> arm_smmu_set_pasid -> arm_smmu_make_s1_cd), and on unbind the CD cleared (arm_smmu_clear_cd)
 * with CMD_CFGI_CD and, for an ATS master, CMD_ATC_INV of that SubstreamID. The bytes are the
 * driver's (driver.ts setPasid / clearPasid). docs/smmuv3-pasid.md.
 * With `sva: true` it is iommu_sva_bind_device instead: an SVA domain (a new ASID from the same
 * allocator) whose table is the process's page table, and the CD arm_smmu_sva_set_dev_pasid writes
 * (arm_smmu_make_sva_cd: driver.ts svaCd). docs/smmuv3-pasid.md, "SVA".
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { Step } from "../../scenario/types.js";
import type { PasidSeamContext } from "../host-iommu.js";
import type { PhysicalMemory } from "../memory.js";
import { COMMAND_NAMES } from "./spec.js";
import { CPU_PA_BITS, CPU_VA_BITS, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE, type ArmSmmuV3Driver } from "./driver.js";

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

export function smmuPasidStep(driver: ArmSmmuV3Driver, mem: PhysicalMemory, sidOfRid: (rid: number) => number, st: Extract<Step, { op: "bind-pasid" | "unbind-pasid" | "munmap" | "process-exit" }>, c: PasidSeamContext): void {
  const rid = c.sidOf(st.device);
  if (rid === undefined) return c.fail("unknown-device", `no host device ${st.device}`);
  const sid = sidOfRid(rid);
  if (st.op === "munmap") return svaMunmap(driver, sid, st, c);
  if (st.op === "process-exit") return svaExit(driver, sid, st, c);
  if (st.op === "unbind-pasid") {
    if (!driver.clearPasid(sid, st.pasid)) return c.failErrno("ENOENT", `PASID ${hex(st.pasid)} of ${st.device} is not bound`);
    return c.summary(`PASID ${hex(st.pasid)} of ${st.device} unbound: CD ${st.pasid} cleared (V = 0), CMD_CFGI_CD${driver.atsMasters.has(sid) ? " and CMD_ATC_INV" : ""} issued`);
  }
  // arm_smmu_set_dev_pasid takes paging (stage-1) and SVA domains; an identity or nested domain is not a PASID's.
  if (st.mode === "pass-through" || st.mode === "nested") return c.fail("pasid-unsupported", `PASID ${hex(st.pasid)}: a ${st.mode} PASID is a VT-d scalable-mode mode; arm-smmu-v3 attaches only stage-1 domains to a PASID (first-level or second-level here: a CD with its own ASID)`);
  if (!driver.masters.has(sid)) return c.fail("pasid-unsupported", `${st.device} has no CD table (not attached to a domain)`);
  if (driver.domains.some((d) => d.ssids?.some(([a, b]) => a === sid && b === st.pasid))) return c.failErrno("EBUSY", `PASID ${hex(st.pasid)} of ${st.device} is already bound`);
  if (st.sva === true) {
    // iommu_sva_bind_device -> arm_smmu_sva_domain_alloc: the master must support SVA
    // (arm_smmu_sva_supported: stage 1, the CPU's PAGE_SIZE among the SMMU's page sizes, an OAS
    // at least the CPU's PA size; arm_smmu_master_sva_supported: SubstreamIDs, checked above).
    const why = !driver.unit.spec.stage1 ? "the SMMU has no stage 1 (SMMU_IDR0.S1P = 0)" : driver.granule !== driver.pageShift ? `the SMMU does not implement the kernel's ${2 ** driver.pageShift / 1024} KiB pages (pgsize_bitmap & PAGE_SIZE)` : driver.unit.spec.oas < CPU_PA_BITS ? `the SMMU's ${driver.unit.spec.oas}-bit OAS is below the CPU's ${CPU_PA_BITS}-bit physical addresses` : undefined;
    if (why !== undefined) return c.fail("pasid-unsupported", `PASID ${hex(st.pasid)} of ${st.device}: no SVA on this SMMU (arm_smmu_sva_supported): ${why}`);
  }
  const d = driver.allocDomain(false, 1);
  // An SVA domain's table is the process's (mm->pgd): its pages are written as the CPU's (leafDescriptor), a page not yet faulted in is absent.
  if (st.sva === true) d.sva = true;
  let pages = 0;
  for (const m of st.maps) {
    if (st.sva === true && m.present === false) continue;
    // IOMMU_PRIV for a supervisor-only mapping (user: false): io-pgtable-arm then leaves AP[1] (EL0) clear.
    const prot = (m.perm === "w" ? IOMMU_WRITE : m.perm === "r" ? IOMMU_READ : IOMMU_READ | IOMMU_WRITE) | (m.user ? 0 : IOMMU_PRIV);
    for (let off = 0n; off < m.size; off += 4096n) {
      const hpa = m.hpa !== undefined ? m.hpa + off : BigInt(mem.allocPage());
      driver.map(d, Number(m.va + off), Number(hpa), 4096, prot);
      pages++;
    }
  }
  const err = driver.setPasid(sid, st.pasid, d);
  if (err !== undefined) {
    driver.domains.splice(driver.domains.indexOf(d), 1);
    return c.failErrno("EINVAL", `PASID ${hex(st.pasid)} of ${st.device}: ${err}`);
  }
  const at = driver.cdAddress(sid, st.pasid, false) ?? 0;
  if (st.sva === true) return c.summary(`PASID ${hex(st.pasid)} of ${st.device} bound to the process (SVA): CD ${st.pasid} at ${hex(at)} as arm_smmu_make_sva_cd writes it (ASID ${d.asid}, TTB0 = mm->pgd ${hex(d.pgd)}, T0SZ ${64 - CPU_VA_BITS}, IPS and MAIR from the CPU), ${pages} page${pages === 1 ? "" : "s"} of the process present`);
  c.summary(`PASID ${hex(st.pasid)} of ${st.device}: CD ${st.pasid} at ${hex(at)} (ASID ${d.asid}), S1 L${d.startLevel} table at ${hex(d.pgd)}, ${pages} page${pages === 1 ? "" : "s"} mapped`);
}

/**
 * `process-exit`: the process bound to the PASID (bind-pasid sva: true) exits. exit_mmap ->
 * mmu_notifier_release runs the SVA notifier's .release, arm_smmu_mm_release (driver.ts svaRelease):
 * the CD is made to fault everything, the TLB and the ATCs are emptied of the ASID. The device
 * driver's unbind (iommu_sva_unbind_device) comes later, so the CD stays, valid, until then.
 */
function svaExit(driver: ArmSmmuV3Driver, sid: number, st: Extract<Step, { op: "process-exit" }>, c: PasidSeamContext): void {
  const d = driver.domains.find((x) => x.ssids?.some(([a, b]) => a === sid && b === st.pasid));
  if (d === undefined) return c.failErrno("ENOENT", `PASID ${hex(st.pasid)} of ${st.device} is not bound to a process`);
  if (d.sva !== true) return c.failErrno("EINVAL", `PASID ${hex(st.pasid)} of ${st.device} holds a DMA domain, not a process address space (bind it with sva: true)`);
  if (d.released === true) return c.failErrno("EINVAL", `the process of PASID ${hex(st.pasid)} of ${st.device} has already exited`);
  const r = driver.svaRelease(d);
  const how =
    driver.svaReleaseCd === "sva-cd"
      ? "arm_smmu_make_sva_cd(.., mm = NULL): EPD0 and EPD1 set, TTB0 and T0SZ cleared"
      : driver.svaReleaseCd === "quiet-abort"
        ? "quiet_cd: EPD0 set in the live CD, S and R cleared"
        : "quiet_cd: EPD0 set in the live CD";
  const cds = r.cds.map((x) => `CD ${x.ssid} of StreamID ${hex(x.sid)} at ${hex(x.address)} = ${hex(x.words[0]!)}`).join(", ");
  const names = r.commands.map(([w0]) => COMMAND_NAMES[Number(w0 & 0xffn)] ?? "?");
  const fate = r.recorded ? "F_TRANSLATION, recorded (CD.R = 1) and printed" : "F_TRANSLATION, not recorded (CD.R = 0): the transaction is aborted without an event";
  c.summary(`the process of PASID ${hex(st.pasid)} of ${st.device} (ASID ${d.asid}) exited: arm_smmu_mm_release wrote ${how} (${cds}); sent ${names.join(", ")}, each with CMD_SYNC; the device's DMA on PASID ${hex(st.pasid)} now faults: ${fate}`);
}

/**
 * `munmap`: the process bound to the PASID (bind-pasid sva: true) unmaps part of its address
 * space; its PTEs go, and the SVA mmu notifier invalidates the SMMU's TLB and the ATCs
 * (driver.ts svaUnmap). The PASID must hold an SVA domain (ENOENT / EINVAL otherwise).
 */
function svaMunmap(driver: ArmSmmuV3Driver, sid: number, st: Extract<Step, { op: "munmap" }>, c: PasidSeamContext): void {
  const d = driver.domains.find((x) => x.ssids?.some(([a, b]) => a === sid && b === st.pasid));
  if (d === undefined) return c.failErrno("ENOENT", `PASID ${hex(st.pasid)} of ${st.device} is not bound to a process`);
  if (d.sva !== true) return c.failErrno("EINVAL", `PASID ${hex(st.pasid)} of ${st.device} holds a DMA domain, not a process address space (bind it with sva: true)`);
  const r = driver.svaUnmap(d, Number(st.va), Number(st.size));
  const present = `${Number(st.size) / 4096} page${st.size === 4096n ? "" : "s"} unmapped (${r.bytes / 4096} present)`;
  if (!driver.svaInvalidation) return c.summary(`munmap(${hex(st.va)}, ${hex(st.size)}) by the process of PASID ${hex(st.pasid)} (ASID ${d.asid}): ${present}; the SMMU is not told (sva-invalidation: false): its TLB and the ATCs keep the old translations`);
  const counts = new Map<string, number>();
  for (const [w0] of r.commands) {
    const name = COMMAND_NAMES[Number(w0 & 0xffn)] ?? "?";
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const sent = [...counts].map(([n, k]) => (k === 1 ? n : `${k} x ${n}`)).join(", ");
  c.summary(`munmap(${hex(st.va)}, ${hex(st.size)}) by the process of PASID ${hex(st.pasid)} (ASID ${d.asid}): ${present}; the mmu notifier (arm_smmu_mm_arch_invalidate_secondary_tlbs) sent ${sent}, each batch with CMD_SYNC`);
}
