import { expect } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import type { SmmuV3Host } from "../../src/sim/smmuv3/host.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { ArmSmmuV3Driver, type SmmuDriverOptions } from "../../src/sim/smmuv3/driver.js";
import { SmmuV3Model } from "../../src/sim/smmuv3/model.js";
import { DEFAULT_SMMU_SPEC, SmmuV3Unit, type SmmuSpec } from "../../src/sim/smmuv3/unit.js";

/** A booted SMMU + arm-smmu-v3 driver on 16 GiB of host memory, and its contract view. */
export function bootedSmmu(over: Partial<SmmuSpec> = {}, opts: SmmuDriverOptions = {}) {
  const mem = new PhysicalMemory({ poolBase: 0x10000000, poolMaxPages: 8192, dramBytes: 16 * 2 ** 30 });
  const unit = new SmmuV3Unit(mem, { ...DEFAULT_SMMU_SPEC, ...over });
  const driver = new ArmSmmuV3Driver(unit, mem, opts);
  driver.init();
  const model = new SmmuV3Model(unit, driver);
  return { mem, unit, driver, model };
}

export function split(iova: bigint | number): [number, number] {
  const v = BigInt(iova);
  return [Number((v >> 32n) & 0xffffffffn), Number(v & 0xffffffffn)];
}

/** Parses a scenario (no errors expected), runs every step on a Machine; its SMMUv3 host. */
export function runSmmuScenario(text: string, file: string) {
  const parsed = parseScenario(text, file);
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const m = new Machine(parsed.scenario!);
  const outs = m.scenario.workload.map((s) => m.runStep(s));
  return { m, outs, host: m.hostIommu as SmmuV3Host };
}
