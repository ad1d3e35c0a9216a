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
import { MultiHost } from "./multiHost.js";

export interface HostIommuModel {
  /** SRAM the unit's caches take (PhysicalMemory's sramBytes). */
  sramBytes(spec: IommuSpec): number;
  /** `name`: the unit's name on a host of several (Linux's "dmar1"); absent: the model's default. */
  create(mem: PhysicalMemory, host: HostSpec, name?: string): HostIommu;
  /** Firmware-declared DMA aliases of the model (requester id -> the id its DMA carries), for the PCI topology. */
  requesterAliases?(host: HostSpec): ReadonlyMap<number, number>;
}

const MODELS: Record<IommuSpec["model"], HostIommuModel> = {
  "intel-vtd": { sramBytes: (spec) => VtdHost.sramBytes(spec), create: (mem, host, name) => new VtdHost(mem, host.iommu, host.pci, name, host.kernel) },
  smmuv3: { sramBytes: (spec) => SmmuV3Host.sramBytes(spec), create: (mem, host) => new SmmuV3Host(mem, host.iommu, host.kernel) },
  "amd-vi": { sramBytes: (spec) => AmdViHost.sramBytes(spec), create: (mem, host) => new AmdViHost(mem, host.iommu, host.pci, host.kernel, host.kernelParams?.amdPgtable), requesterAliases: (host) => ivrsDevices(host.iommu).alias },
};

export function hostIommuModel(model: IommuSpec["model"]): HostIommuModel {
  return MODELS[model];
}

/** SRAM the host's units take together (one unit, or every unit of `host.iommus`). */
export function hostIommuSram(host: HostSpec): number {
  const m = hostIommuModel(host.iommu.model);
  return host.iommus !== undefined && host.iommus.length > 1 ? host.iommus.reduce((n, u) => n + m.sramBytes(u.iommu), 0) : m.sramBytes(host.iommu);
}

/**
 * The host's IOMMU: its one unit, or with several units in `host.iommus` a MultiHost (sim/multiHost.ts)
 * over one HostIommu per unit, each built from the unit's own options and named as Linux names it.
 * A one-unit `host.iommus` is the one-unit host.
 */
export function createHostIommu(mem: PhysicalMemory, host: HostSpec): HostIommu {
  const m = hostIommuModel(host.iommu.model);
  const units = host.iommus;
  if (units === undefined || units.length < 2) return m.create(mem, host);
  return new MultiHost(units.map((u) => m.create(mem, { ...host, iommu: u.iommu }, u.name)), units, host.pci);
}
