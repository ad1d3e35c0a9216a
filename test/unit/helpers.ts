import type { IommuSpec, SourceRange } from "../../src/scenario/types.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { IntelIommuDriver } from "../../src/sim/vtd/driver.js";
import { DmarUnit } from "../../src/sim/vtd/unit.js";

export const NO_RANGE: SourceRange = { start: 0, end: 0, line: 0, column: 0 };

export function vtdSpec(over: Partial<IommuSpec> = {}): IommuSpec {
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
    range: NO_RANGE,
    ...over,
  };
}

/** A booted unit + driver on 16 GiB of host memory. */
export function bootedUnit(over: Partial<IommuSpec> = {}) {
  const mem = new PhysicalMemory({ poolBase: 0x10000000, poolMaxPages: 4096, dramBytes: 16 * 2 ** 30 });
  const unit = new DmarUnit(mem, vtdSpec(over));
  const driver = new IntelIommuDriver(unit, mem);
  driver.init();
  return { mem, unit, driver };
}

export function split(iova: bigint): [number, number] {
  return [Number((iova >> 32n) & 0xffffffffn), Number(iova & 0xffffffffn)];
}
