// pci=noari (host.kernel-params): Linux never enables ARI (drivers/pci/pci.c pci_setup "noari" ->
// pcie_ari_disabled; pci_configure_ari returns first), so VFs beyond function 7 below a link are
// unreachable whatever the port and the device support.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "sriov-noari.passthrough.yaml"), "utf8");
const EIGHT = EXAMPLE.replace("total-vfs: 7, num-vfs: 7", "total-vfs: 8, num-vfs: 8");

describe("pci=noari", () => {
  it("examples/sriov-noari: 7 VFs at functions 1-7 of the PF's bus; the last one is assigned and does DMA", () => {
    const parsed = parseScenario(EXAMPLE, "x.passthrough.yaml");
    expect(parsed.diagnostics.filter((d) => d.severity !== "info")).toEqual([]);
    const vfs = parsed.scenario!.host.pci.filter((d) => d.physfn === "03:00.0").map((d) => d.key);
    expect(vfs).toEqual(["03:00.1", "03:00.2", "03:00.3", "03:00.4", "03:00.5", "03:00.6", "03:00.7"]);
    expect(runScenario(parsed.scenario!).run!.outcomes.map((o) => o.expect?.failures ?? [])).toEqual([[], []]);
  });

  it("an eighth VF at function 8 is unreachable with pci=noari, and fine without it", () => {
    const e = parseScenario(EIGHT, "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
    expect(e.map((d) => d.code)).toEqual(["sriov-ari-required"]);
    expect(e[0]!.message).toMatch(/VF 8 would be at .*03:01\.0, function number 8 of bus 03; without ARI only functions 0-7 are reachable below 00:01\.0: the kernel runs with pci=noari/);
    const without = parseScenario(EIGHT.replace('  kernel-params: "pci=noari"\n', ""), "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
    expect(without).toEqual([]);
  });

  it("other parameters are warnings that say what the scenario reads instead", () => {
    const d = parseScenario(EXAMPLE.replace('"pci=noari"', '"iommu=pt pci=noari,realloc"'), "x.passthrough.yaml").diagnostics.filter((x) => x.code === "kernel-param-ignored");
    expect(d.map((x) => x.message)).toEqual(["kernel parameter iommu=pt is not simulated; the simulation reads pci=noari", "pci=realloc is not simulated; the simulation reads pci=noari"]);
    expect(d[0]!.hint).toBe("iommu=pt is host.iommu.host-pass-through: true.");
  });
});
