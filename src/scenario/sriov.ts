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
 * host.pci with every enabled VF added after the listed devices. A device listed with `physfn`
 * is that VF written out (its driver, name); it must be one of the PF's enabled VFs.
 */
export function expandVfs(listed: PciDeviceSpec[]): { devices: PciDeviceSpec[]; problems: SriovProblem[] } {
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
    for (let n = 1; n <= sr.numVfs; n++) {
      const rid = vfRoutingId(pfRid, sr.firstVfOffset, sr.vfStride, n);
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
