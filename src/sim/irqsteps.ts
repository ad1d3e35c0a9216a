/**
 * The workload steps of interrupt remapping (`irte`, `msi`) and the boot-time hooks of reserved
 * regions (RMRR identity maps, the boot lines of sim/reserved.ts), called from the Machine with one
 * line each. The hardware rules live in the model (vtd/intremap.ts, reached through the unit);
 * this module only turns a step into register/memory writes and a request, and the answer into an
 * outcome, a trace event and log lines. Pure module: no vscode, no Node built-ins.
 */
import type { Step } from "../scenario/types.js";
import type { Machine, StepOutcome } from "./machine.js";
import { failStep } from "./vmm.js";
import { compatMsiAddress, encodeIrte, MsiFormat, remappableMsiAddress, SVT_ALL, SVT_BUS, SVT_NONE } from "./vtd/intremap.js";
import { FaultFate, XlateKind } from "./vtd/unit.js";
import { EventKind, F_FATE_SHIFT, F_WRITE, F_XLATE_SHIFT } from "../trace/trace.js";
import { faultReasonInfo } from "./vtd/reasons.js";
import { bootLines, rmrrsOf } from "./reserved.js";
import type { HostDomain } from "./host-iommu.js";
import type { PciDevice } from "./pci.js";
import { hostIrteStep, hostMsiStep } from "./irqsteps-host.js";
import { encodePid, kvmNdst, ndstApicId, pirVectors, POSTED_INTR_VECTOR, POSTED_INTR_WAKEUP_VECTOR, readPid } from "./vtd/posted.js";

const hex = (n: number | bigint) => `0x${n.toString(16)}`;

/** Boot: the kernel's IOMMU lines (reserved.ts bootLines), then interrupt remapping is enabled. */
export function bootIommuExtras(m: Machine): void {
  const host = m.scenario.host;
  for (const l of bootLines(host)) m.log.kernel(l.ns, l.text, -1);
  // One interrupt-remapping table per DRHD (Linux: intel_setup_irq_remapping() per iommu, iommu->ir_table).
  if (host.iommu.intremap) for (const v of m.vtdUnits()) v.irq.enable(host.iommu.eim ?? false);
}

/**
 * iommu_create_device_direct_mappings(): each IOMMU_RESV_DIRECT region (an RMRR) of the device is
 * mapped 1:1 (read/write) into the device's default domain, unless that domain is an identity
 * (pass-through) domain, which needs none.
 */
export function mapRmrrs(m: Machine, dev: PciDevice, dom: HostDomain, done: Set<string>): void {
  if ((dom as HostDomain & { passThrough?: boolean }).passThrough === true) return;
  for (const r of rmrrsOf(m.scenario.host, dev.key)) {
    const key = `${dom.did}:${r.base}`;
    if (done.has(key)) continue; // another device of the domain shares the RMRR: mapped once
    done.add(key);
    // iommu_map() of the domain: on a host of several DRHDs, the domain of the unit whose scope holds the device.
    m.hostIommu.map(dom, r.base, r.base, r.end - r.base + 1n, 3);
  }
}

/** `irte:` the host's IRQ-remapping driver writes one IRTE for the device (modify_irte / free_irte). */
export function irteStep(m: Machine, st: Extract<Step, { op: "irte" }>, out: StepOutcome): void {
  if (m.hostIommu.interrupts) return hostIrteStep(m, m.hostIommu.interrupts, st, out);
  if (st.running !== undefined || st.preempted !== undefined || st.gaTag !== undefined || st.vcpu !== undefined) {
    failStep(m.trace, st.index, out, "intremap-config", `"${st.running !== undefined ? "running" : st.preempted !== undefined ? "preempted" : st.gaTag !== undefined ? "ga-tag" : "vcpu"}" is a field of AMD-Vi's guest virtual APIC IRTE; a VT-d posted IRTE's vCPU state is in its posted-interrupt descriptor (posted-descriptor step)`);
    return;
  }
  const dev = m.pci.device(st.device);
  if (dev === undefined) {
    failStep(m.trace, st.index, out, "unknown-device", `no host device ${st.device}`);
    return;
  }
  // The IRT of the DRHD whose scope holds the device (map_dev_to_ir()).
  const v = m.vtdFor(m.pci.requesterId(dev));
  if (!v.unit.interruptRemappingEnabled) {
    failStep(m.trace, st.index, out, "intremap-off", "interrupt remapping is off on this host (host.iommu.intremap): there is no IRTE to program");
    return;
  }
  const eim = v.irq.eim;
  let irte: [bigint, bigint] = [0n, 0n];
  if (st.present) {
    // set_msi_sid() (irq_remapping.c): verify the requester id, or only the bus range when the
    // device's DMA alias is on another bus (behind a PCIe-to-PCI bridge: [alias bus, device bus]).
    const rid = m.pci.requesterId(dev);
    const bus = dev.spec.bdf.bus;
    const other = m.pci.dmaAliases(dev).find((a) => a >> 8 !== bus);
    let svt = other !== undefined ? SVT_BUS : SVT_ALL;
    let sid = other !== undefined ? ((other >> 8) << 8) | bus : rid;
    if (st.svt === "requester") [svt, sid] = [SVT_ALL, rid];
    else if (st.svt === "bus") [svt, sid] = [SVT_BUS, ((rid >> 8) << 8) | (rid >> 8)];
    else if (st.svt === "none") [svt, sid] = [SVT_NONE, 0];
    irte = encodeIrte({ present: true, fpd: st.fpd, vector: st.vector, destination: st.destination, ...(st.posted !== undefined ? { posted: { pda: st.posted, urgent: st.urgent } } : {}), sid, sq: st.sq, svt }, eim);
  }
  const at = v.irq.table + st.entry * 16;
  v.irq.modifyIrte(st.entry, irte, st.invalidate);
  m.trace.pushBig(EventKind.Poke, st.index, 0, 0, 0, 0, 0, BigInt(at), irte[0]);
  const what = !st.present ? "cleared (P = 0)" : st.posted !== undefined ? `posted to descriptor ${hex(st.posted)}, vector ${hex(st.vector)}` : `vector ${hex(st.vector)} -> ${eim ? "x2APIC" : "APIC"} ${st.destination}`;
  const unit = m.hostUnits.units.length > 1 ? ` (${v.unit.name})` : "";
  out.summary = `IRTE ${st.entry} of ${dev.key}${unit} at HPA ${hex(at)}: ${what}${st.invalidate ? "; interrupt entry cache invalidated" : "; no IEC invalidation"}`;
}

/** `msi:` the device's MSI write, through the unit (DmarUnit.translateMsi): remapped, blocked or faulted. */
export function msiStep(m: Machine, st: Extract<Step, { op: "msi" }>, out: StepOutcome): void {
  if (m.hostIommu.interrupts) return hostMsiStep(m, m.hostIommu.interrupts, st, out);
  if (st.count !== undefined && st.count !== 1) {
    failStep(m.trace, st.index, out, "intremap-config", "count (back-to-back MSIs) is supported on AMD-Vi hosts (the GA log); on VT-d write one msi step per interrupt");
    return;
  }
  const dev = m.pci.device(st.device);
  if (dev === undefined) {
    failStep(m.trace, st.index, out, "unknown-device", `no host device ${st.device}`);
    return;
  }
  const sid = m.pci.requesterId(dev);
  const shv = st.subhandle !== undefined;
  const address = st.format === "compatibility" ? compatMsiAddress(st.destination) : remappableMsiAddress(st.handle, shv);
  const data = st.data ?? st.subhandle ?? 0;
  const u = m.vtdFor(sid).unit;
  const code = u.translateMsi(sid, address, data);
  const ir = u.ir;
  const t = m.trace;
  t.reserve(t.length + 1);
  t.push(EventKind.Interrupt, st.index, sid, 0, F_WRITE | (u.fate << F_FATE_SHIFT) | (XlateKind.Interrupt << F_XLATE_SHIFT), 0, code, 0, address, 0, code === 0 ? (ir.posted ? ir.pdaLo : address) : 0);
  out.transactions = 1;
  const req = `MSI ${hex(address)} data ${hex(data)}`;
  if (code !== 0) {
    out.status = "fault";
    out.fault = code;
    out.faults = 1;
    out.recorded = u.fate === FaultFate.Recorded;
    out.summary = `${req} blocked: fault 0x${code.toString(16).padStart(2, "0")} ${faultReasonInfo(code).linuxText}${st.format === "remappable" ? ` (index ${ir.index})` : ""}${u.fate === FaultFate.SuppressedFpd ? "; not recorded (IRTE FPD = 1)" : ""}`;
    return;
  }
  if (!u.interruptRemappingEnabled) out.summary = `${req}: interrupt remapping is off, delivered as written (vector ${hex(data & 0xff)})`;
  else if (ir.format === MsiFormat.Compatibility) out.summary = `${req}: compatibility format passed through (GSTS.CFIS = 1), vector ${hex(ir.vector)} to APIC ${ir.destination}`;
  else if (ir.posted) {
    const p = ir.post;
    const pda = hex((BigInt(ir.pdaHi) << 32n) | BigInt(ir.pdaLo));
    const iec = ir.cached ? " (interrupt entry cache)" : "";
    if (!p.ok) out.summary = `${req}: IRTE ${ir.index}${iec} is posted to descriptor ${pda}, which is not host memory: nothing posted`;
    else {
      out.notified = p.notified;
      const dest = ndstApicId(p.ndst, ir.eime);
      // VT-d 5.2.3: a notification only when ON was clear and (URG or not SN).
      const notify = p.notified ? `ON set, notification vector ${hex(p.nv)}${nvName(p.nv)} to ${ir.eime ? "x2APIC" : "APIC"} ${dest}` : p.onWasSet ? "no notification (ON already set: one is outstanding)" : "no notification (SN = 1: suppressed, IRTE not urgent)";
      out.summary = `${req}: IRTE ${ir.index}${iec} posted vector ${hex(ir.vector)} into descriptor ${pda}: PIR[${hex(ir.vector)}] ${p.alreadyPending ? "was already set (coalesced)" : "set"}; ${notify}`;
    }
  }
  else out.summary = `${req}: IRTE ${ir.index} remapped to vector ${hex(ir.vector)}, ${ir.eime ? "x2APIC" : "APIC"} ${ir.destination}${ir.cached ? " (interrupt entry cache)" : ""}`;
}

const nvName = (nv: number) => (nv === POSTED_INTR_VECTOR ? " (POSTED_INTR_VECTOR)" : nv === POSTED_INTR_WAKEUP_VECTOR ? " (POSTED_INTR_WAKEUP_VECTOR)" : "");

/**
 * `posted-descriptor:` KVM updates a vCPU's posted-interrupt descriptor (arch/x86/kvm/vmx/posted_intr.c,
 * v5.16+ shape): `running` is vmx_vcpu_pi_load() (NV = POSTED_INTR_VECTOR, SN = 0, NDST = the CPU as
 * `x2apic_mode ? dest : (dest << 8) & 0xFF00`), `blocked` is pi_enable_wakeup_handler() (NV =
 * POSTED_INTR_WAKEUP_VECTOR), `preempted` is vmx_vcpu_pi_put() setting SN. PIR and ON are kept (KVM
 * changes the control word with a cmpxchg); `sync` is vmx_sync_pir_to_irr() at VM entry: when ON
 * is set it is cleared and PIR is taken into the vCPU's IRR (kvm_apic_update_irr, xchg to 0).
 */
export function postedDescriptorStep(m: Machine, st: Extract<Step, { op: "posted-descriptor" }>, out: StepOutcome): void {
  const old = readPid(m.mem, st.address);
  if (old === undefined) {
    failStep(m.trace, st.index, out, "intremap-config", `the posted-interrupt descriptor at ${hex(st.address)} is not host memory`);
    return;
  }
  const x2apic = m.vtdUnits()[0]!.irq.eim; // every DRHD runs the one mode (intel_prepare_irq_remapping)
  const ctl = old[4]!;
  let on = (ctl & 1n) === 1n;
  let sn = ((ctl >> 1n) & 1n) === 1n;
  let nv = Number((ctl >> 16n) & 0xffn);
  let ndst = Number((ctl >> 32n) & 0xffffffffn);
  let pir = pirVectors(old);
  if (st.vcpu === "running") [nv, sn, ndst] = [POSTED_INTR_VECTOR, false, kvmNdst(st.cpu, x2apic)];
  else if (st.vcpu === "blocked") [nv, sn, ndst] = [POSTED_INTR_WAKEUP_VECTOR, false, kvmNdst(st.cpu, x2apic)];
  else sn = true;
  let taken: number[] = [];
  if (st.sync && on) [on, taken, pir] = [false, pir, []];
  const words = encodePid({ pir, on, sn, nv, ndst });
  // Reserved qwords 5-7 are kept as they are (KVM never writes them).
  for (let i = 0; i < 5; i++) m.mem.writeU64(Number(st.address) + i * 8, words[i]!);
  m.trace.pushBig(EventKind.Poke, st.index, 0, 0, 0, 0, 0, st.address + 32n, words[4]!);
  const state = st.vcpu === "running" ? `vCPU running on CPU ${st.cpu}` : st.vcpu === "blocked" ? `vCPU blocked (wakeup list of CPU ${st.cpu})` : "vCPU preempted (SN set)";
  const sync = !st.sync ? "" : taken.length ? `; the vCPU took vector${taken.length > 1 ? "s" : ""} ${taken.map(hex).join(", ")} from PIR and cleared ON` : "; ON was clear: nothing to take";
  out.summary = `posted-interrupt descriptor at HPA ${hex(st.address)}: ${state}: NV ${hex(nv)}${nvName(nv)}, NDST ${hex(ndst)}, SN ${sn ? 1 : 0}, ON ${on ? 1 : 0}, PIR ${pir.length ? pir.map(hex).join(", ") : "empty"}${sync}`;
}
