import type { IommuSpec, SourceRange } from "../../src/scenario/types.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { IntelIommuDriver } from "../../src/sim/vtd/driver.js";
import { DmarUnit } from "../../src/sim/vtd/unit.js";
import { vtdIommuSpec } from "../../src/sim/vtd/spec.js";

export const NO_RANGE: SourceRange = { start: 0, end: 0, line: 0, column: 0 };

/** The default VT-d unit's spec (src/sim/vtd/spec.ts), with `over` on top. */
export function vtdSpec(over: Partial<IommuSpec> = {}): IommuSpec {
  return vtdIommuSpec({ range: NO_RANGE, ...over });
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
