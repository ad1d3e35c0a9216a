/**
 * The one registry of host IOMMU models: `host.iommu.model` of a scenario -> the HostIommu the
 * machine builds (sim/host-iommu.ts). A new model adds one entry here.
 */
import type { HostSpec, IommuSpec } from "../scenario/types.js";
import type { HostIommu } from "./host-iommu.js";
import type { PhysicalMemory } from "./memory.js";
import { VtdHost } from "./vtd/host.js";
import { SmmuV3Host } from "./smmuv3/host.js";
import { AmdViHost } from "./amdvi/host.js";
import { ivrsDevices } from "./amdvi/ivrs.js";

export interface HostIommuModel {
  /** SRAM the unit's caches take (PhysicalMemory's sramBytes). */
  sramBytes(spec: IommuSpec): number;
  create(mem: PhysicalMemory, host: HostSpec): HostIommu;
  /** Firmware-declared DMA aliases of the model (requester id -> the id its DMA carries), for the PCI topology. */
  requesterAliases?(host: HostSpec): ReadonlyMap<number, number>;
}

const MODELS: Record<IommuSpec["model"], HostIommuModel> = {
  "intel-vtd": { sramBytes: (spec) => VtdHost.sramBytes(spec), create: (mem, host) => new VtdHost(mem, host.iommu, host.pci) },
  smmuv3: { sramBytes: () => 0, create: (mem, host) => new SmmuV3Host(mem, host.iommu, host.kernel) },
  "amd-vi": { sramBytes: () => AmdViHost.sramBytes(), create: (mem, host) => new AmdViHost(mem, host.iommu, host.pci, host.kernel), requesterAliases: (host) => ivrsDevices(host.iommu).alias },
};

export function hostIommuModel(model: IommuSpec["model"]): HostIommuModel {
  return MODELS[model];
}
