/**
 * KVM's GATag (arch/x86/kvm/svm/avic.c): the 32-bit tag KVM puts in a guest virtual APIC IRTE
 * (AVIC_GATAG(vm_id, vcpu)) and reads back from a GA log entry in avic_ga_log_notifier, which
 * finds the VM by its AVIC VM id and wakes the vCPU. The IOMMU never interprets the tag (spec 48882
 * treats it as opaque); its layout is KVM's and changed three times:
 *   - 4.9 - 6.2: AVIC_VCPU_ID_BITS 8, AVIC_VM_ID_BITS 24: (vm_id << 8) | vcpu_id; the notifier looks
 *     the vCPU up by id (kvm_get_vcpu_by_id) - the avic.c of that time ("AVIC GATAG is encoded
 *     using VM and VCPU IDs");
 *   - 6.3 - 6.16: the vCPU field as wide as AVIC_PHYSICAL_MAX_INDEX_MASK (GENMASK_ULL(8, 0): 9 bits,
 *     x2AVIC's 512 vCPUs), the VM id in the 23 bits above (AVIC_VM_ID_SHIFT =
 *     HWEIGHT32(AVIC_PHYSICAL_MAX_INDEX_MASK)): 5999715922c5 "KVM: SVM: Modify AVIC GATag to support
 *     max number of 512 vCPUs" with 3ec7a1b2743c "KVM: SVM: Fix a benign off-by-one bug in AVIC
 *     physical table mask", both in mainline during v6.3-rc (the revlist of 2023-03-20 next to
 *     "Merge tag 'asoc-fix-v6.3-rc1'"), and backported to linux-6.2.y (listed in the "[PATCH 6.2
 *     000/213] 6.2.8-rc2 review" of 2023-03-21; pushed 2023-03-22). The stable queue/6.1 of
 *     2023-03-20 lacks them; later 6.1.y releases were not checked, so 6.1.y keeps the 8-bit layout;
 *   - 6.17 - 6.18: the same bits, but the low field is the vCPU's index, not its id
 *     (AVIC_GATAG_TO_VCPUIDX; the notifier calls kvm_get_vcpu): 11a60455d4c9 "KVM: SVM: Use
 *     vcpu_idx, not vcpu_id, for GA log tag/metadata", merged with tag kvm-x86-irqs-6.17;
 *   - 6.19 on: AVIC_PHYSICAL_MAX_INDEX_MASK GENMASK_ULL(11, 0) (x2AVIC with 4k vCPUs): a 12-bit vCPU
 *     index, a 20-bit VM id: ca11d9d35e95 "KVM: SVM: Expand AVIC_PHYSICAL_MAX_INDEX_MASK to be a
 *     12-bit field", in tag kvm-x86-svm-6.19 ("KVM: x86: SVM changes for 6.19").
 * KVM's AVIC VM ids are 1-based (avic_vm_init: "id is 1-based, zero is not okay"): the first VM
 * created with AVIC gets 1, so no VM answers a tag whose VM field is 0.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { hasStableBackport, kernelAtLeast, parseKernelVersion, versionAtLeast } from "../kernelVersion.js";

export interface GaTagLayout {
  /** Bits of the vCPU field (the low bits); the VM id takes the 32 - vcpuBits above. */
  vcpuBits: 8 | 9 | 12;
  /** The vCPU field is the vCPU's index (kvm_get_vcpu), not its id (kvm_get_vcpu_by_id). */
  byIndex: boolean;
}

/** The GATag layout of the kernel of `version` (a text without a version: the current kernel). */
export function gaTagLayout(version: string): GaTagLayout {
  const v = parseKernelVersion(version) ?? { major: 99, minor: 0 };
  const at = (major: number, minor: number) => versionAtLeast(v, major, minor);
  if (at(6, 19)) return { vcpuBits: 12, byIndex: true };
  if (at(6, 17)) return { vcpuBits: 9, byIndex: true };
  if (at(6, 3)) return { vcpuBits: 9, byIndex: false };
  // linux-6.2.y from 6.2.8 has the 9-bit layout (see above).
  if (hasStableBackport(version, [[6, 2, 8]])) return { vcpuBits: 9, byIndex: false };
  return { vcpuBits: 8, byIndex: false };
}

/**
 * GALogIntr of a guest virtual APIC IRTE as KVM has the AMD IOMMU driver write it, by kernel:
 *   - before 6.17: amd_iommu_activate_guest_mode sets GALogIntr = 1 and amd_iommu_update_ga only
 *     moves IsRun and Destination, so every interrupt to a vCPU that is not running - blocked in
 *     HLT or preempted - writes a GA log entry;
 *   - 6.17 on: b9e53f9ff4a8 "iommu/amd: KVM: SVM: Allow KVM to control need for GA log interrupts"
 *     (__amd_iommu_update_ga: a vCPU on a pCPU gets IsRun = 1 and GALogIntr = 0, one that is not
 *     gets IsRun = 0 and the caller's choice) with b03500f03ea0 "KVM: SVM: Generate GA log IRQs
 *     only if the associated vCPUs is blocking": KVM asks for the GA log interrupt only when the
 *     vCPU blocks (it must be woken); a preempted vCPU runs again anyway, and its interrupts are
 *     only posted to its vAPIC backing page. Both in the pull of kvm-x86-irqs-6.17, with the
 *     GATag's vCPU index above. A text without a version: the current kernel.
 */
export function kvmGaLogIntr(version: string, running: boolean, preempted: boolean): boolean {
  if (!kernelAtLeast(version, 6, 17, true)) return true;
  return !running && !preempted;
}

/** The name KVM's notifier gives the vCPU field (its pr_debug: "vm_id=%#x, vcpu_id=%#x", from 6.17 "vcpu_idx=%#x"). */
export function gaTagVcpuName(l: GaTagLayout): "vcpu_id" | "vcpu_idx" {
  return l.byIndex ? "vcpu_idx" : "vcpu_id";
}

/**
 * AVIC_GATAG(vm_id, vcpu) of the kernel of `version`, or a sentence saying which value does not
 * fit (KVM WARNs then, AVIC_GATAG's WARN_ON_ONCE from c281794eaa5c, and the tag names another vCPU).
 */
export function avicGaTag(version: string, vmId: number, vcpu: number): number | string {
  const l = gaTagLayout(version);
  const vmBits = 32 - l.vcpuBits;
  if (vcpu < 0 || vcpu >= 2 ** l.vcpuBits) return `${gaTagVcpuName(l)} ${vcpu} does not fit this kernel's ${l.vcpuBits}-bit vCPU field of the GATag (KVM's AVIC_GATAG)`;
  if (vmId < 0 || vmId >= 2 ** vmBits) return `AVIC VM id ${vmId} does not fit this kernel's ${vmBits}-bit VM field of the GATag (KVM's AVIC_GATAG)`;
  return ((vmId * 2 ** l.vcpuBits) + vcpu) >>> 0;
}

/** What avic_ga_log_notifier reads from `tag` (AVIC_GATAG_TO_VMID, AVIC_GATAG_TO_VCPUID / _VCPUIDX). */
export function decodeGaTag(version: string, tag: number): { vmId: number; vcpu: number; layout: GaTagLayout } {
  const layout = gaTagLayout(version);
  const t = tag >>> 0;
  return { vmId: Math.floor(t / 2 ** layout.vcpuBits), vcpu: t % 2 ** layout.vcpuBits, layout };
}

/** The notifier's fields of `tag` as its pr_debug names them: "vm_id=0x1, vcpu_id=0x2". */
export function gaTagFields(version: string, tag: number): string {
  const { vmId, vcpu, layout } = decodeGaTag(version, tag);
  return `vm_id=0x${vmId.toString(16)}, ${gaTagVcpuName(layout)}=0x${vcpu.toString(16)}`;
}

/** The notifier's reading of `tag`, for a step's summary: "vm_id=0x1, vcpu_id=0x2: wakes vCPU id 2 of the VM with AVIC id 1". */
export function gaTagWakes(version: string, tag: number): string {
  const { vmId, vcpu, layout } = decodeGaTag(version, tag);
  const fields = gaTagFields(version, tag);
  return vmId === 0 ? `${fields}: no VM has AVIC id 0 (KVM's ids are 1-based), no vCPU is woken` : `${fields}: wakes vCPU ${layout.byIndex ? "index" : "id"} ${vcpu} of the VM with AVIC id ${vmId}`;
}
