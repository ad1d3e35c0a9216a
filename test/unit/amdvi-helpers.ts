// Helpers of the AMD-Vi scenario tests: run a scenario text, cut an example after its first steps,
// read the commands the driver left in the command buffer.
import fc from "fast-check";
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

/** One operation of a random map/unmap/DMA sequence on VM db01's device 03:00.0 (the v2 DMA domain properties). */
export type V2Op = { k: "map"; p: number; n: number; w: boolean } | { k: "unmap"; p: number; n: number } | { k: "dma"; p: number; w: boolean };

/** Random operations on pages 0..maxPage of IOVA 0x40_0000_0000 (maps of up to maxMap pages, unmaps of up to maxUnmap). */
export function v2Ops(maxPage: number, maxMap: number, maxUnmap: number, maxLength: number): fc.Arbitrary<V2Op[]> {
  const page = fc.integer({ min: 0, max: maxPage });
  const op: fc.Arbitrary<V2Op> = fc.oneof(
    fc.record({ k: fc.constant("map" as const), p: page, n: fc.integer({ min: 1, max: maxMap }), w: fc.boolean() }),
    fc.record({ k: fc.constant("unmap" as const), p: page, n: fc.integer({ min: 1, max: maxUnmap }) }),
    fc.record({ k: fc.constant("dma" as const), p: page, w: fc.boolean() }),
  );
  return fc.array(op, { minLength: 1, maxLength });
}

/**
 * The workload lines of `ops`: maps only of pages all free (VFIO refuses overlaps) and below
 * maxPage, unmaps only of mapped pages, each DMA `dmaTimes` times in a row.
 */
export function v2Lines(ops: readonly V2Op[], maxPage: number, dmaTimes = 1): string[] {
  const lines: string[] = [];
  const mapped = new Set<number>();
  for (const o of ops) {
    const iova = `0x${(0x40_0000_0000 + o.p * 4096).toString(16)}`;
    if (o.k === "dma") {
      for (let i = 0; i < dmaTimes; i++) lines.push(`  - dma: { device: "03:00.0", iova: ${iova}, length: 4KiB, write: ${o.w} }`);
      continue;
    }
    const pages = Array.from({ length: o.n }, (_, i) => o.p + i);
    if (o.k === "map") {
      if (pages.some((x) => mapped.has(x) || x > maxPage)) continue;
      pages.forEach((x) => mapped.add(x));
      lines.push(`  - map: { vm: db01, iova: ${iova}, size: ${o.n * 4}KiB, perm: ${o.w ? "rw" : "r"}, gpa: 0x${(0x4000_0000 + o.p * 4096).toString(16)} }`);
    } else {
      if (!pages.every((x) => mapped.has(x))) continue;
      pages.forEach((x) => mapped.delete(x));
      lines.push(`  - unmap: { vm: db01, iova: ${iova}, size: ${o.n * 4}KiB }`);
    }
  }
  return lines;
}

/** The same workload on the v2 domain (`head` has amd_iommu=pgtbl_v2) and on a v1 domain: each run's outcomes. */
export function v2AndV1(head: string, lines: readonly string[]): { v2: ReturnType<typeof runAmd>; v1: ReturnType<typeof runAmd>; out: (r: ReturnType<typeof runAmd>) => unknown[] } {
  const v2 = runAmd(head + lines.join("\n") + "\n");
  const v1 = runAmd(head.replace('kernel-params: "amd_iommu=pgtbl_v2"', 'kernel-params: "amd_iommu=pgtbl_v1"') + lines.join("\n") + "\n");
  return { v2, v1, out: (r) => r.outcomes.map((x) => [x.fault ?? 0, x.faults, x.error ?? ""]) };
}
