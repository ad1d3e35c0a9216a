/**
 * The one rule for a device-side translation cache entry (PCIe ATS: VT-d's Device-TLB, AMD-Vi's
 * device IOTLB, SMMUv3's ATC) as the views list it (InspectTables.deviceTlb): it is stale when the
 * unit's own translate, run now with its caches bypassed (a probe: nothing filled, nothing
 * recorded), faults or gives another address or other permissions than the device holds.
 */

/** What a probe of the tables answers: the translate's return (0: translated), its address and permissions. */
export interface TablesAnswer {
  reason: number;
  hpa: bigint;
  perm: number;
}

/** True when the tables (asked by `probe` with `unit`'s caches bypassed) no longer give what the device caches. */
export function staleAgainstTables(unit: { bypassCaches: boolean }, cached: { hpa: bigint; perm: number }, probe: () => TablesAnswer): boolean {
  unit.bypassCaches = true;
  let now: TablesAnswer;
  try {
    now = probe();
  } finally {
    unit.bypassCaches = false;
  }
  return now.reason !== 0 || now.hpa !== cached.hpa || now.perm !== cached.perm;
}
