// iommufd's RLIMIT_MEMLOCK accounting (drivers/iommu/iommufd/pages.c iopt_pages_update_pinned):
// each IOMMU_IOAS_MAP charges its pinned pages (an IOMMU_IOAS_COPY shares them and charges nothing)
// to the counter IOMMU_OPTION_RLIMIT_MODE chose - the user's locked_vm (0, the kernel's default,
// shared by every VMM of the user) or the process's (1, what libvirt sets).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { memlockHover } from "../../src/engine/memlockHover.js";
import { parseScenario } from "../../src/scenario/index.js";
import { loadScenario } from "./helpers.js";
import { IommufdIoas } from "../../src/sim/iommufd.js";
import { Machine } from "../../src/sim/machine.js";
import { memlockDiagnostics, memlockNeeds } from "../../src/sim/reserved.js";
import { runScenario } from "../../src/sim/run.js";

function parse(text: string) {
  return parseScenario(text, "test.passthrough.yaml");
}

const load = loadScenario;

/** Two 2 GiB iommufd VMs against a 3 GiB limit; `b` is VM b's extra keys. */
const two = (b = "", a = "", workload = "  - start: a\n  - start: b\n") => `
host:
  memory: 16GiB
  memlock: 3GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", parent: "00:01.0", driver: vfio-pci }
    - { bdf: "00:02.0", kind: root-port, acs: true, secondary-bus: 2 }
    - { bdf: "02:00.0", id: "8086:1572", parent: "00:02.0", driver: vfio-pci }
vms:
  - name: a
    memory: 2GiB
    devices: ["01:00.0"]
    backend: iommufd${a}
  - name: b
    memory: 2GiB
    devices: ["02:00.0"]
    backend: iommufd${b}
workload:
${workload}`;

describe("iommufd RLIMIT_MEMLOCK accounting", () => {
  it("user accounting (the default): a second VM of the same user finds the first's pages on the counter", () => {
    const run = runScenario(load(two())).run!;
    expect(run.outcomes[0]!.status).toBe("ok");
    const b = run.outcomes[1]!;
    expect(b.errno).toBe("ENOMEM");
    expect(b.summary).toContain("RLIMIT_MEMLOCK 3GiB, and the user's locked_vm (IOMMU_OPTION_RLIMIT_MODE 0");
    expect(b.summary).toContain("already holds 2GiB; this map needs 2GiB more");
  });

  it("process accounting: rlimit-mode: mm, or a libvirt-started VM (libvirt sets it), counts only the VM's own pages", () => {
    for (const keys of ["\n    rlimit-mode: mm", "\n    libvirt: {}"]) {
      const run = runScenario(load(two(keys))).run!;
      expect(run.outcomes.map((o) => o.status)).toEqual(["ok", "ok"]);
    }
    // Only VM a in user mode: VM b (mm) does not count toward the user's counter either.
    const run = runScenario(load(two("\n    rlimit-mode: mm", "", "  - start: b\n  - start: a\n"))).run!;
    expect(run.outcomes.map((o) => o.status)).toEqual(["ok", "ok"]);
  });

  it("a stopped VM's pages leave the user's counter", () => {
    const run = runScenario(load(two("", "", "  - start: a\n  - stop: a\n  - start: b\n"))).run!;
    expect(run.outcomes[2]!.status).toBe("ok");
  });

  const ioas = (steps: string) => two("", "\n    rlimit-mode: mm", `  - start: a\n  - iommufd: { vm: a, ioctl: IOMMU_IOAS_ALLOC }\n${steps}`);

  it("a second IOAS that maps the same RAM is charged again; IOMMU_IOAS_COPY of it is not", () => {
    const run = runScenario(load(ioas(`  - iommufd: { vm: a, ioctl: IOMMU_IOAS_MAP, ioas: 4, iova: 0, gpa: 0, length: 2GiB }\n  - iommufd: { vm: a, ioctl: IOMMU_IOAS_COPY, src-ioas: 1, src-iova: 0, ioas: 4, iova: 0, length: 2GiB }\n  - iommufd: { vm: a, ioctl: IOMMU_IOAS_MAP, ioas: 4, iova: 0x100000000, gpa: 0, length: 1GiB }\n`))).run!;
    const [map, copy, third] = run.outcomes.slice(2);
    expect(map!.errno).toBe("ENOMEM");
    expect(map!.summary).toContain("the VMM process's locked_vm (IOMMU_OPTION_RLIMIT_MODE 1");
    expect(copy!.status).toBe("ok");
    // 2 GiB charged (IOAS 1) + 1 GiB = the 3 GiB limit exactly: allowed (pages.c: new_pages > lock_limit fails).
    expect(third!.status).toBe("ok");
  });

  it("unmapping a charged area gives its bytes back; unmapping a copy gives nothing", () => {
    const run = runScenario(load(ioas(`  - iommufd: { vm: a, ioctl: IOMMU_IOAS_COPY, src-ioas: 1, src-iova: 0, ioas: 4, iova: 0, length: 2GiB }\n  - iommufd: { vm: a, ioctl: IOMMU_IOAS_UNMAP, ioas: 4, iova: 0, length: 2GiB }\n  - iommufd: { vm: a, ioctl: IOMMU_IOAS_MAP, ioas: 4, iova: 0, gpa: 0, length: 2GiB }\n  - iommufd: { vm: a, ioctl: IOMMU_IOAS_UNMAP, ioas: 1, iova: 0, length: 2GiB }\n  - iommufd: { vm: a, ioctl: IOMMU_IOAS_MAP, ioas: 4, iova: 0, gpa: 0, length: 2GiB }\n`))).run!;
    expect(run.outcomes.slice(2).map((o) => o.errno ?? o.status)).toEqual(["ok", "ok", "ENOMEM", "ok", "ok"]);
  });

  it("checkpoints keep what each IOAS charged and which areas are copies", () => {
    const m = new Machine(load(ioas(`  - iommufd: { vm: a, ioctl: IOMMU_IOAS_COPY, src-ioas: 1, src-iova: 0, ioas: 4, iova: 0, length: 2GiB }\n`)));
    for (const st of m.scenario.workload.slice(0, 3)) m.runStep(st);
    const first = m.vms.get("a")!.container as IommufdIoas;
    expect(first.charged).toBe(2n << 30n);
    const snap = m.snapshot();
    m.runStep({ ...m.scenario.workload[0]!, op: "stop", vm: "a" } as never);
    m.restore(snap);
    const again = m.vms.get("a")!.container as IommufdIoas;
    expect(again.charged).toBe(2n << 30n);
    const copy = m.vms.get("a")!.iommufd!.ioas(4)!;
    expect(copy.charged).toBe(0n);
  });

  it("the memlock need, its diagnostic and the hover follow the counter", () => {
    const s = load(two());
    const needs = memlockNeeds(s);
    expect(needs.map((n) => n.iommufd)).toEqual([
      { mode: "user", counted: 4n << 30n, with: ["a", "b"], short: 1n << 30n },
      { mode: "user", counted: 4n << 30n, with: ["a", "b"], short: 1n << 30n },
    ]);
    const d = memlockDiagnostics(s);
    expect(d.length).toBe(2);
    expect(d[1]!.severity).toBe("warning");
    expect(d[1]!.message).toContain("VM b: iommufd charges the user's locked_vm (IOMMU_OPTION_RLIMIT_MODE 0), which VMs a, b fill with 4GiB");
    expect(d[1]!.range.line).toBe(15); // VM b's item (0-based)
    expect(memlockHover(s).join("\n")).toContain("charged to the user's locked_vm (RLIMIT_MODE 0), which `a`, `b` fill with `4GiB` — **1GiB short**");
    const mm = memlockNeeds(load(two("\n    rlimit-mode: mm", "\n    rlimit-mode: mm")));
    expect(mm.map((n) => n.iommufd)).toEqual([
      { mode: "mm", counted: 2n << 30n, with: ["a"] },
      { mode: "mm", counted: 2n << 30n, with: ["b"] },
    ]);
    expect(memlockDiagnostics(load(two("\n    rlimit-mode: mm", "\n    rlimit-mode: mm")))).toEqual([]);
  });

  it("rlimit-mode is validated with line and column", () => {
    const type1 = parse(two("", "").replace("backend: iommufd\n  - name: b", "backend: type1\n    rlimit-mode: mm\n  - name: b"));
    const e = type1.diagnostics.find((x) => x.message.includes("rlimit-mode is an iommufd option"))!;
    expect(e.severity).toBe("error");
    expect(e.range.line).toBe(15); // the rlimit-mode key (0-based)
    const bad = parse(two("\n    rlimit-mode: process"));
    const b = bad.diagnostics.find((x) => x.severity === "error")!;
    expect(b.range.line).toBe(19);
    expect(b.range.column).toBe(17);
  });

  it("the example passes its expectations", () => {
    const run = runScenario(load(readFileSync("examples/iommufd-memlock-accounting.passthrough.yaml", "utf8"))).run!;
    const withExpect = run.outcomes.filter((o) => o.expect);
    expect(withExpect.length).toBe(7);
    expect(withExpect.every((o) => o.expect!.pass)).toBe(true);
  });
});
