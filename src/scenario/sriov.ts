/**
 * SR-IOV virtual functions of the physical functions in host.pci: their routing IDs computed as the
 * SR-IOV capability defines them, and the problems a user can write (a VF whose PF does not enable
 * it, NumVFs above TotalVFs, VFs running off the last bus).
 *
 * Routing IDs: PCIe Base Spec 9.3.3.9/9.3.3.10 (First VF Offset, VF Stride): "the Routing ID of
 * VF n is PF RID + First VF Offset + (n - 1) * VF Stride" (n from 1), all 16-bit arithmetic, so a
 * VF can land on a higher bus than its PF. Linux computes the same in drivers/pci/iov.c
 * pci_iov_virtfn_bus() / pci_iov_virtfn_devfn() with a 0-based vf_id:
 *   bus   = dev->bus->number + ((dev->devfn + offset + stride * vf_id) >> 8)
 *   devfn = (dev->devfn + offset + stride * vf_id) & 0xff
 * A VF is a single-function endpoint (pci_iov_scan_device(): virtfn->multifunction = 0), hangs on
 * its PF's bus or on a virtual bus below it (virtfn_add_bus(): pci_add_new_bus(bus, NULL, busnr),
 * a bus without a bridge device), so for IOMMU grouping the bridge above it is the PF's parent.
 *
 * ARI (PCIe Base Spec 6.13 Alternative Routing-ID Interpretation; SR-IOV 9.3.3.3.5 "ARI Capable
 * Hierarchy"): below a PCIe root or downstream port a link carries only Device 0 (Base Spec 7.3.1,
 * Linux probe.c only_one_child()), so a routing ID's 5-bit device number must be 0 and a bus holds
 * functions 0-7. With ARI Forwarding Enable in the port, the device/function fields form one 8-bit
 * function number and a bus holds functions 0-255. Linux sets ARI Forwarding Enable when the port
 * has ARI Forwarding Supported and function 0 below it the ARI capability (pci.c pci_configure_ari),
 * and then sets ARI Capable Hierarchy in the PF's SR-IOV control (iov.c sriov_init: "if
 * (pci_ari_enabled(dev->bus)) ctrl |= PCI_SRIOV_CTRL_ARI"), which lets the device "locate VFs in
 * Function numbers 8 to 255 of the captured Bus number". Without it a VF at function number 8 or
 * above is unreachable: the scenario's offsets need ARI, an error here. Routing IDs still follow
 * the same First VF Offset / VF Stride formula (the device reports the values for its current ARI
 * Capable Hierarchy setting; the scenario gives those).
 * Bus crossing: VFs past the PF's bus must lie within its bus's range, the port's subordinate bus
 * (iov.c sriov_enable: pci_err(dev, "can't enable %d VFs (bus %02x out of range of %pR)\n",
 * nr_virtfn, bus, &dev->bus->busn_res) -> -ENOMEM; %pR of a bus resource prints "[bus 05-06]").
 */
import * as l10n from "@vscode/l10n";
import { bdfOfSid, formatBdf, sidOfBdf } from "../sim/bdf.js";
import type { DiagnosticCode, PciDeviceSpec, SourceRange } from "./types.js";

export interface SriovProblem {
  code: DiagnosticCode;
  message: string;
  hint: string;
  range: SourceRange;
}

/**
 * The routing ID of VF `n` (1-based) of a PF at routing ID `pfRid`: PF RID + First VF Offset +
 * (n - 1) * VF Stride. Not masked: a result above 0xffff means the VF would lie beyond bus 0xff.
 */
export function vfRoutingId(pfRid: number, firstVfOffset: number, vfStride: number, n: number): number {
  return pfRid + firstVfOffset + (n - 1) * vfStride;
}

const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");

/**
 * Whether Linux enables ARI below the PF's port: the port forwards ARI and function 0 of the PF's
 * bus has the capability (pci_configure_ari). Both are assumed unless the scenario says `ari: false`
 * (current root ports and SR-IOV devices have them); `false` on either models an older switch or
 * device. `noAri`: the host kernel runs with pci=noari (drivers/pci/pci.c pci_setup: "noari" sets
 * pcie_ari_disabled, and pci_configure_ari returns before enabling ARI Forwarding).
 */
export function ariEnabled(pf: PciDeviceSpec, byKey: ReadonlyMap<string, PciDeviceSpec>, noAri = false): boolean {
  if (noAri) return false;
  const port = pf.parent !== undefined ? byKey.get(pf.parent) : undefined;
  if (port === undefined || port.ari === false) return false;
  for (const d of byKey.values()) if (d.bdf.segment === pf.bdf.segment && d.bdf.bus === pf.bdf.bus && d.bdf.device === 0 && d.bdf.fn === 0) return d.ari !== false;
  return pf.ari !== false;
}

/** Whether the PF sits on a PCIe link (below a root or downstream port), where only Device 0 is reachable without ARI. */
function onLink(pf: PciDeviceSpec, byKey: ReadonlyMap<string, PciDeviceSpec>): PciDeviceSpec | undefined {
  const port = pf.parent !== undefined ? byKey.get(pf.parent) : undefined;
  return port !== undefined && (port.kind === "root-port" || port.kind === "switch-downstream") ? port : undefined;
}

/**
 * host.pci with every enabled VF added after the listed devices. A device listed with `physfn`
 * is that VF written out (its driver, name); it must be one of the PF's enabled VFs.
 */
export function expandVfs(listed: PciDeviceSpec[], noAri = false): { devices: PciDeviceSpec[]; problems: SriovProblem[] } {
  const problems: SriovProblem[] = [];
  const explicit = new Map<string, PciDeviceSpec>();
  const plain = new Map<string, PciDeviceSpec>();
  for (const d of listed) (d.physfn !== undefined ? explicit : plain).set(d.key, d);
  const out: PciDeviceSpec[] = listed.filter((d) => d.physfn === undefined);
  const used = new Set<string>();
  for (const pf of listed) {
    const sr = pf.sriov;
    if (sr === undefined) continue;
    if (pf.physfn !== undefined) {
      problems.push({ code: "sriov-invalid", message: l10n.t("{0} is a VF and cannot have an SR-IOV capability of its own", pf.key), hint: l10n.t("Only a physical function has the SR-IOV capability; remove `sriov` or `physfn`."), range: sr.range });
      continue;
    }
    if (pf.kind !== "endpoint" && pf.kind !== "integrated") {
      problems.push({ code: "sriov-invalid", message: l10n.t("{0} is a {1}; only an endpoint can be an SR-IOV physical function", pf.key, pf.kind), hint: l10n.t("Give the SR-IOV capability to the device (kind: endpoint), not to a port or bridge."), range: sr.range });
      continue;
    }
    if (sr.numVfs > sr.totalVfs) {
      // drivers/pci/iov.c sriov_numvfs_store(): if (num_vfs > pci_sriov_get_totalvfs(pdev)) return -ERANGE;
      problems.push({ code: "sriov-invalid", message: l10n.t("{0}: num-vfs {1} is above total-vfs {2}; writing it to sriov_numvfs fails with ERANGE (Numerical result out of range)", pf.key, sr.numVfs, sr.totalVfs), hint: l10n.t("Enable at most {0} VFs.", sr.totalVfs), range: sr.range });
      continue;
    }
    if (sr.numVfs > 0 && sr.firstVfOffset === 0) {
      problems.push({ code: "sriov-invalid", message: l10n.t("{0}: first-vf-offset 0 puts VF 1 on the PF's own routing ID", pf.key), hint: l10n.t("First VF Offset is the distance from the PF's routing ID to VF 1's; it is at least 1."), range: sr.range });
      continue;
    }
    if (sr.numVfs > 1 && sr.vfStride === 0) {
      problems.push({ code: "sriov-invalid", message: l10n.t("{0}: vf-stride 0 gives all {1} VFs one routing ID", pf.key, sr.numVfs), hint: l10n.t("VF Stride is the distance between consecutive VFs' routing IDs; it is at least 1 when more than one VF is enabled."), range: sr.range });
      continue;
    }
    const pfRid = sidOfBdf(pf.bdf);
    const port = onLink(pf, plain);
    const ari = ariEnabled(pf, plain, noAri);
    if (sr.numVfs > 0 && port?.subordinateBus !== undefined) {
      const last = vfRoutingId(pfRid, sr.firstVfOffset, sr.vfStride, sr.numVfs);
      if (last <= 0xffff && last >> 8 > port.subordinateBus) {
        const range = pf.bdf.bus === port.subordinateBus ? `[bus ${hex(pf.bdf.bus, 2)}]` : `[bus ${hex(pf.bdf.bus, 2)}-${hex(port.subordinateBus, 2)}]`;
        problems.push({ code: "sriov-invalid", message: l10n.t("{0}: VF {1} would be on bus {2}, beyond {3}'s subordinate bus {4} (the kernel: can't enable {1} VFs (bus {2} out of range of {5}), ENOMEM)", pf.key, sr.numVfs, hex(last >> 8, 2), port.key, hex(port.subordinateBus, 2), range), hint: l10n.t("Give {0} more bus numbers (subordinate-bus), or enable fewer VFs.", port.key), range: sr.range });
        continue;
      }
    }
    for (let n = 1; n <= sr.numVfs; n++) {
      const rid = vfRoutingId(pfRid, sr.firstVfOffset, sr.vfStride, n);
      if (rid <= 0xffff && port !== undefined && !ari && (rid & 0xf8) !== 0) {
        const why = noAri ? l10n.t("the kernel runs with pci=noari (pcie_ari_disabled: pci_configure_ari enables no ARI Forwarding)") : port.ari === false ? l10n.t("{0} does not forward ARI (ari: false)", port.key) : l10n.t("function 0 of bus {0} has no ARI capability (ari: false)", hex(pf.bdf.bus, 2));
        problems.push({ code: "sriov-ari-required", message: l10n.t("{0}: VF {1} would be at {2}, function number {3} of bus {4}; without ARI only functions 0-7 are reachable below {5}: {6}", pf.key, n, formatBdf(bdfOfSid(rid, pf.bdf.segment)), rid & 0xff, hex(rid >> 8, 2), port.key, why), hint: l10n.t("Use a port that forwards ARI and a device with the ARI capability, or give the First VF Offset / VF Stride the device reports without ARI (lspci -vv on a non-ARI hierarchy), which keep VFs at functions 0-7 of each bus."), range: sr.range });
        break;
      }
      if (rid > 0xffff) {
        // drivers/pci/iov.c sriov_enable(): pci_err(dev, "can't enable %d VFs (bus %02x out of range of %pR)\n", ...) -> -ENOMEM
        problems.push({ code: "sriov-invalid", message: l10n.t("{0}: VF {1} would be at routing ID 0x{2}, beyond bus ff (the kernel: can't enable {3} VFs (bus {4} out of range))", pf.key, n, rid.toString(16), sr.numVfs, hex(rid >> 8, 2)), hint: l10n.t("Enable fewer VFs or use a smaller first-vf-offset / vf-stride."), range: sr.range });
        break;
      }
      const bdf = bdfOfSid(rid, pf.bdf.segment);
      const key = formatBdf(bdf);
      const other = plain.get(key);
      if (other !== undefined) {
        problems.push({ code: "bdf-duplicate", message: l10n.t("VF {0} of {1} is at {2}, which host.pci lists as another device", n, pf.key, key), hint: l10n.t("Write {0} with physfn: \"{1}\" if it is that VF, or change the PF's first-vf-offset / vf-stride.", key, pf.key), range: other.range });
        continue;
      }
      const given = explicit.get(key);
      const vf: PciDeviceSpec = {
        bdf,
        key,
        kind: "endpoint",
        acs: given?.acs ?? false,
        multifunction: false,
        physfn: pf.key,
        vfNumber: n,
        range: given?.range ?? sr.range,
      };
      if (pf.parent !== undefined) vf.parent = pf.parent;
      if (pf.vendorId !== undefined) vf.vendorId = pf.vendorId;
      const dev = given?.deviceId ?? sr.vfDeviceId ?? pf.deviceId;
      if (dev !== undefined) vf.deviceId = dev;
      vf.name = given?.name ?? `${pf.name ?? pf.key} VF ${n}`;
      const drv = given !== undefined ? given.driver : sr.vfDriver;
      if (drv !== undefined) vf.driver = drv;
      if (given !== undefined) {
        if (given.physfn !== pf.key) continue; // reported below: it names another PF
        used.add(key);
      }
      out.push(vf);
    }
  }
  for (const [key, d] of explicit) {
    if (used.has(key)) continue;
    const pf = plain.get(d.physfn!);
    const why =
      pf === undefined
        ? l10n.t("its physfn {0} is not in host.pci", d.physfn ?? "")
        : pf.sriov === undefined
          ? l10n.t("{0} has no SR-IOV capability (no `sriov:`)", pf.key)
          : pf.sriov.numVfs === 0
            ? l10n.t("{0} has SR-IOV disabled (num-vfs: 0, sriov_numvfs is 0)", pf.key)
            : l10n.t("it is not one of the {0} VFs {1} enables ({2})", pf.sriov.numVfs, pf.key, vfList(pf));
    problems.push({
      code: "vf-without-pf",
      message: l10n.t("{0} is a VF without its PF enabled: {1}", key, why),
      hint: pf?.sriov ? l10n.t("Raise {0}'s num-vfs, or use one of the VFs' addresses.", pf.key) : l10n.t("Give {0} an `sriov: { total-vfs, num-vfs, first-vf-offset, vf-stride }` that enables this VF.", d.physfn ?? ""),
      range: d.range,
    });
  }
  return { devices: out, problems };
}

function vfList(pf: PciDeviceSpec): string {
  const sr = pf.sriov!;
  const at = (n: number) => formatBdf(bdfOfSid(vfRoutingId(sidOfBdf(pf.bdf), sr.firstVfOffset, sr.vfStride, n) & 0xffff, pf.bdf.segment));
  return sr.numVfs === 1 ? at(1) : `${at(1)} .. ${at(sr.numVfs)}`;
}
