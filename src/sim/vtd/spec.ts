/**
 * The default VT-d unit: what a scenario's `host.iommu: { model: intel-vtd }` gets with no other
 * key (scenario/parse.ts: address-width 48, SAGAW 39 + 48, 8 fault recording registers, ND 6,
 * a 256 x 4 IOTLB, 2 MiB + 1 GiB superpages, pass-through, queued invalidation, page-selective
 * invalidation with MAMV 18), with no source range. The one builder for code and tests that
 * make a unit without a scenario (the bench modes, the unit tests).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { IommuSpec } from "../../scenario/types.js";

export function vtdIommuSpec(over: Partial<IommuSpec> = {}): IommuSpec {
  return {
    model: "intel-vtd",
    addressWidth: 48,
    sagaw: [39, 48],
    cachingMode: false,
    faultRecords: 8,
    nd: 6,
    iotlbSets: 256,
    iotlbWays: 4,
    superpages: { "2M": true, "1G": true },
    passThrough: true,
    queuedInvalidation: true,
    deviceTlb: false,
    pageSelectiveInvalidation: true,
    mamv: 18,
    hostPassThrough: false,
    range: { start: 0, end: 0, line: 0, column: 0 },
    ...over,
  };
}
