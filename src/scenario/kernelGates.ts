/**
 * Kernel rules - version gates, a driver's limits - that both validation (src/scenario/validate.ts)
 * and the simulated drivers (src/sim/vtd/driver.ts, src/sim/smmuv3/guestDriver.ts) apply, so the
 * two agree. Pure module: no vscode, no Node built-ins.
 */

/**
 * The stage-1 input size of a guest's arm-smmu-v3 DMA domain: arm_smmu_domain_finalise_s1 takes
 * ias = min(48 (no ARM_SMMU_FEAT_VAX), VA_BITS), the guest's VA_BITS 48. Beyond it
 * arm_lpae_map_pages WARNs and returns -ERANGE.
 */
export const GUEST_SMMU_S1_IAS = 48;

/**
 * Whether the kernel refuses dirty tracking on a unit whose page walks are not snooped
 * (ECAP.SMPWC = 0): "iommu/vt-d: Disallow dirty tracking if incoherent page walk" (57f55048e564,
 * v6.18; in 6.17.y stable) adds ecap_smpwc to ssads_supported(), quoting VT-d 3.10 ("the need to
 * atomically update A/EA/D bits in a paging-structure entry that is not snooped will result in a
 * non-recoverable fault"). Older kernels set SLADE anyway, and the walks fault 0x7c. Without a
 * version (a current kernel): refused. 6.17 counts as before the fix (the stable release that took
 * it is not modelled).
 */
export function dirtyTrackingNeedsSmpwc(kernel: string | undefined): boolean {
  const m = kernel === undefined ? null : /(\d+)\.(\d+)/.exec(kernel);
  if (m === null) return true;
  const major = Number(m[1]);
  return major > 6 || (major === 6 && Number(m[2]) >= 18);
}
