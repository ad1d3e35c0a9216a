import type { IommuSpec, Scenario, SourceRange } from "../../src/scenario/types.js";
import { parseScenario } from "../../src/scenario/index.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { IntelIommuDriver } from "../../src/sim/vtd/driver.js";
import { DmarUnit } from "../../src/sim/vtd/unit.js";
import { vtdIommuSpec } from "../../src/sim/vtd/spec.js";
import { runCli } from "../../src/cli/cli.js";

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

/**
 * The scenario the host-IOMMU model tests share: a root port at 00:01.0 with ACS and a NIC at
 * 01:00.0 bound to vfio-pci behind it, one 2 GiB VM that owns the NIC and starts. `iommu` is the
 * `host.iommu` value ("{ model: smmuv3 }"), `steps` follow `- start: vm1`, `hostLines` (each
 * indented two spaces, ending in a newline) go before `iommu:` (kernel, backing).
 */
export function nicScenario(iommu: string, steps = "", hostLines = ""): string {
  return `name: t
host:
  memory: 16GiB
${hostLines}  iommu: ${iommu}
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "15b3:1017", name: NIC, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: vm1
    memory: 2GiB
    devices: ["01:00.0"]
workload:
  - start: vm1
${steps}`;
}

/** Runs the CLI in-process (src/cli/cli.ts runCli) with its output and error streams captured. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

/** The scenario of `text` (file name test.passthrough.yaml); throws with every error's code and message. */
export function loadScenario(text: string): Scenario {
  const p = parseScenario(text, "test.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return p.scenario;
}
