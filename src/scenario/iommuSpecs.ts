/**
 * The default unit of each host IOMMU model: what a scenario's `host.iommu: { model: X }` gets
 * with no other key, one builder per model. scenario/parse.ts builds every parsed unit with these,
 * and code without a scenario (bench modes, unit tests) through sim/vtd/spec.ts. They live in the
 * scenario layer because the parser may not import sim/ (ARCHITECTURE.md, layering).
 *
 * VT-d: address-width 48, SAGAW 39 + 48, 8 fault recording registers, ND 6, a 256 x 4 IOTLB,
 * 2 MiB + 1 GiB superpages, pass-through, queued invalidation, page-selective invalidation with
 * MAMV 18. AMD-Vi and SMMUv3 read only some of the model-neutral fields (AMD-Vi: addressWidth, the
 * v1 table width; both: the IOTLB geometry and hostPassThrough); the VT-d capability fields keep
 * the VT-d defaults there and mean nothing. Their SAGAW is empty; AMD-Vi's one "fault record"
 * stands for its event log, SMMUv3's are its event queue's 2^LOG2SIZE entries, and its TLB is
 * 64 sets x 4 ways.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { AmdViSpec, IommuSpec, SmmuV3Spec } from "./types.js";

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

export function amdviIommuSpec(amd: AmdViSpec = { unityMaps: [] }, over: Partial<IommuSpec> = {}): IommuSpec {
  return vtdIommuSpec({ model: "amd-vi", amd, sagaw: [], faultRecords: 1, ...over });
}

export function smmuv3IommuSpec(smmu: SmmuV3Spec, over: Partial<IommuSpec> = {}): IommuSpec {
  return vtdIommuSpec({ model: "smmuv3", smmu, sagaw: [], faultRecords: 2 ** smmu.evtqShift, iotlbSets: 64, ...over });
}
