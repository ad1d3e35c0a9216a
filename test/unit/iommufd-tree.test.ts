// iommufd's objects as nodes of the Virtual Machines view: each object under the one it refers to
// (sim/iommufdObjects.ts iommufdObjectTree), so a nested configuration reads IOAS -> nesting parent
// (stage-2) hwpt -> vIOMMU -> nested (stage-1) hwpt -> the device attached to it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import type { TreeNode } from "../../src/protocol/engine.js";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import { iommufdObjectsOf, iommufdObjectTree, type IommufdObjectNode } from "../../src/sim/iommufdObjects.js";

const read = (name: string) => readFileSync(join(__dirname, "..", "..", "examples", `${name}.passthrough.yaml`), "utf8");
const VEVENTQ = read("smmuv3-veventq");
/** The example up to and including the attach to nested hwpt 7. */
const ATTACHED = VEVENTQ.slice(0, VEVENTQ.indexOf("\n", VEVENTQ.indexOf("ioctl: VFIO_DEVICE_ATTACH_IOMMUFD_PT, device: \"01:00.0\", pt: 7")) + 1);

function vmsTree(text: string) {
  const s = new EngineServer();
  s.handle("update", { uri: "u", version: 1, text });
  s.handle("setCursor", { uri: "u", step: 999 });
  return (id: string | null): TreeNode[] => s.handle("children", { uri: "u", view: "vms", ids: [id], radix: "hex", after: true })[0] ?? [];
}
const flat = (nodes: IommufdObjectNode[], depth = 0): string[] => nodes.flatMap((n) => [`${"  ".repeat(depth)}${n.label}: ${n.description}`, ...flat(n.children, depth + 1)]);

describe("iommufd object nodes", () => {
  it("the model's forest: parent hwpt -> vIOMMU -> nested hwpt -> the attached device", () => {
    const parsed = parseScenario(ATTACHED, "x.passthrough.yaml");
    const r = runScenario(parsed.scenario!).run!;
    const ctx = [...r.machine.vms.values()][0]!.iommufd!;
    expect(flat(iommufdObjectTree(ctx))).toEqual([
      "IOAS 1: 1 mapping",
      "  hwpt 3: domain 3, automatic",
      "  hwpt 4: nesting parent (stage 2), domain S2 VMID 1",
      "    vIOMMU 5: on nesting parent hwpt 4",
      "      vDEVICE 6 (01:00.0): virtual id 0x8",
      "      nested hwpt 7: stage 1 over the vIOMMU's parent: vSTE 0x4800000b 0xd6",
      "        device 2 (01:00.0): bound, attached to hwpt 7",
      "      vEVENTQ 8: depth 1",
    ]);
  });

  it("before the attach the device sits under the automatic hwpt it was attached to at start", () => {
    const text = VEVENTQ.slice(0, VEVENTQ.indexOf("  - iommufd: { vm: arm01, ioctl: IOMMU_HWPT_ALLOC, device: \"01:00.0\", pt: 1, nest-parent: true }"));
    const r = runScenario(parseScenario(text, "x.passthrough.yaml").scenario!).run!;
    expect(flat(iommufdObjectTree(iommufdObjectsOf([...r.machine.vms.values()][0]!)!))).toEqual(["IOAS 1: 1 mapping", "  hwpt 3: domain 3, automatic", "    device 2 (01:00.0): bound, attached to hwpt 3"]);
  });

  it("the Virtual Machines view lists them under the VM, node by node down to the device", () => {
    const kids = vmsTree(ATTACHED);
    const vm = kids(null)[0]!.id;
    const top = kids(vm).find((n) => n.id === `${vm}/iommufd`)!;
    expect(top).toMatchObject({ label: "iommufd objects", description: "8 objects", collapsible: 1 });
    const path = [`${vm}/iommufd`];
    const labels: string[] = [];
    for (const want of ["IOAS 1", "hwpt 4", "vIOMMU 5", "nested hwpt 7", "device 2 (01:00.0)"]) {
      const n = kids(path.at(-1)!).find((x) => x.label === want)!;
      expect(n, want).toBeDefined();
      labels.push(`${n.label} · ${n.description}`);
      path.push(n.id);
    }
    expect(path.at(-1)).toBe(`${vm}/iommufd/1/4/5/7/2`);
    expect(labels[3]).toBe("nested hwpt 7 · stage 1 over the vIOMMU's parent: vSTE 0x4800000b 0xd6");
    expect(kids(path.at(-1)!)).toEqual([]);
    // A type1 VM has no such node.
    const type1 = vmsTree(read("healthy-nic"));
    expect(type1(type1(null)[0]!.id).map((n) => n.label)).not.toContain("iommufd objects");
  });
});
