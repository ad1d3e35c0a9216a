// Helpers of the AMD-Vi scenario tests: run a scenario text, cut an example after its first steps,
// read the commands the driver left in the command buffer.
import { expect } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";
import { MMIO_CMD_BUF_OFFSET } from "../../src/sim/amdvi/defs.js";

/** Parses (no error diagnostics) and runs a scenario. */
export function runAmd(text: string) {
  const p = parseScenario(text, "x.passthrough.yaml");
  expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runScenario(p.scenario!).run!;
}

/** A scenario text up to (and with) its first `n` workload items. */
export function firstSteps(text: string, n: number): string {
  const [head, work] = text.split(/\nworkload:\n/) as [string, string];
  const parts = work.split(/\n(?=  - )/);
  return `${head}\nworkload:\n${parts.slice(0, n).join("\n")}\n`;
}

/** The commands in the AMD-Vi unit's command buffer (512 entries of two qwords; empty slots left out). */
export function amdCommands(r: ReturnType<typeof runAmd>): [bigint, bigint][] {
  const host = r.machine.hostIommu as AmdViHost;
  const base = Number(host.unit.readReg(MMIO_CMD_BUF_OFFSET) & 0x000ffffffffff000n);
  const out: [bigint, bigint][] = [];
  for (let i = 0; i < 512; i++) out.push([r.machine.mem.readU64(base + i * 16)!, r.machine.mem.readU64(base + i * 16 + 8)!]);
  return out.filter(([lo]) => lo !== 0n);
}
