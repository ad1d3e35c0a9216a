// libvirt's memlock limit (sim/reserved.ts memlockNeed / effectiveMemlock) per case, with the
// numbers libvirt's own tests/qemumemlocktest.c pins for x86 (a 1 GiB guest): pc-hostdev
// 2147483648, pc-hostdev-nvme 3221225472, pc-hardlimit+hostdev the hard limit, pc-locked+hostdev
// unlimited, pc-kvm 0 (nothing set). ppc64's getPPC64MemLockLimitBytes is not modelled.
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import { parseScenario } from "../../src/scenario/index.js";
import type { HostSpec, LibvirtMemSpec, Scenario, VmSpec } from "../../src/scenario/types.js";
import { Machine } from "../../src/sim/machine.js";
import { simulateText } from "../../src/cli/simulate.js";
import { effectiveMemlock, memlockNeed } from "../../src/sim/reserved.js";
import { NO_RANGE } from "./helpers.js";

const GiB = 1n << 30n;

function load(text: string): Scenario {
  const p = parseScenario(text, "t.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return p.scenario;
}

const scenario = (libvirt: string, memlock = "64KiB", extra = "") => `
host:
  memory: 16GiB
  memlock: ${memlock}
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:1c.4", kind: root-port, acs: true, secondary-bus: 5 }
    - { bdf: "05:00.0", id: "10de:1eb8", parent: "00:1c.4", driver: vfio-pci }
vms:
  - name: g
    memory: 4GiB
    devices: ["05:00.0"]${libvirt ? `\n    libvirt: ${libvirt}` : ""}
workload:
  - start: g${extra}
`;

/** Every step's expectation failures ([] when all hold), and the run's errno per step. */
function run(text: string) {
  const r = simulateText(text, "t.passthrough.yaml");
  return { failures: r.steps.filter((s) => s.expect && !s.expect.pass).flatMap((s) => s.expect!.failures), errors: r.diagnostics.filter((d) => d.severity === "error"), steps: r.steps };
}

function vm(devices: number, opts: { viommu?: boolean; libvirt?: Omit<LibvirtMemSpec, "range"> } = {}): VmSpec {
  return {
    name: "v",
    memory: GiB,
    devices: Array.from({ length: devices }, (_, i) => `0${i + 1}:00.0`),
    ...(opts.viommu ? { viommu: { model: "intel" as const, cachingMode: true, range: NO_RANGE } } : {}),
    ...(opts.libvirt ? { libvirt: { ...opts.libvirt, range: NO_RANGE } } : {}),
    range: NO_RANGE,
  };
}

describe("libvirt's qemuDomainGetMemLockLimitBytes, per case", () => {
  const host: HostSpec = { ...load(scenario("")).host };
  const { memlock: _, ...unlimitedHost } = host;
  it("pc-hostdev: guest memory + 1GiB for any number of VFIO devices without a vIOMMU", () => {
    expect(memlockNeed(host, vm(1))?.libvirt).toBe(2147483648n);
    expect(memlockNeed(host, vm(3))?.libvirt).toBe(2147483648n);
  });
  it("pc-hostdev-nvme: one NVMe disk adds the guest memory again", () => {
    const n = memlockNeed(host, vm(1, { libvirt: { nvmeDisks: 1 } }));
    expect(n?.libvirt).toBe(3221225472n);
    expect(n?.formula).toBe("2 × 1GiB guest RAM + 1GiB (VFIO + 1 NVMe disk)");
  });
  it("a vIOMMU counts every VFIO device; vDPA devices count like NVMe disks; nothing that pins: no limit", () => {
    expect(memlockNeed(host, vm(3, { viommu: true }))?.libvirt).toBe(4n * GiB);
    expect(memlockNeed(host, vm(2, { viommu: true, libvirt: { vdpaDevices: 2, nvmeDisks: 1 } }))?.libvirt).toBe(6n * GiB);
    expect(memlockNeed(host, vm(0, { libvirt: { nvmeDisks: 1 } }))?.libvirt).toBe(2n * GiB);
    expect(memlockNeed(host, vm(0))).toBeUndefined();
    expect(memlockNeed(host, vm(0, { libvirt: { hardLimit: 2n * GiB } }))).toBeUndefined();
  });
  it("pc-hardlimit+hostdev: the hard limit wins, even when it is below the computed limit; raised only", () => {
    const v = vm(1, { libvirt: { hardLimit: 1536n << 20n } });
    expect(effectiveMemlock(host, v)).toBe(1536n << 20n);
    expect(memlockNeed(host, v)).toMatchObject({ hardLimit: 1536n << 20n, libvirt: 2n * GiB, short: 512n << 20n });
    // qemuDomainSetMaxMemLock leaves a limit that is already high enough.
    expect(effectiveMemlock({ ...host, memlock: 8n * GiB }, v)).toBe(8n * GiB);
    expect(effectiveMemlock(unlimitedHost as HostSpec, v)).toBeUndefined();
  });
  it("pc-locked+hostdev: unlimited; pc-hardlimit+locked+hostdev: the hard limit", () => {
    expect(effectiveMemlock(host, vm(1, { libvirt: { locked: true } }))).toBeUndefined();
    expect(memlockNeed(host, vm(1, { libvirt: { locked: true } }))?.short).toBeUndefined();
    expect(effectiveMemlock(host, vm(1, { libvirt: { locked: true, hardLimit: 2n * GiB } }))).toBe(2n * GiB);
  });
  it("a libvirt VM without a hard limit runs with the computed limit; a hand-started one keeps host.memlock", () => {
    expect(effectiveMemlock(host, vm(1, { libvirt: {} }))).toBe(2n * GiB);
    expect(effectiveMemlock(host, vm(1))).toBe(64n << 10n);
  });
});

describe("the simulator runs the VM with that limit", () => {
  it("a libvirt-started VM starts although host.memlock is 64KiB (libvirt raised it)", () => {
    const text = scenario("{ nvme-disks: 0 }", "64KiB", "\n    expect: { ok: true }");
    expect(run(text)).toMatchObject({ failures: [], errors: [] });
    expect(run(scenario("", "64KiB", "\n    expect: { errno: ENOMEM }"))).toMatchObject({ failures: [], errors: [] });
    const m = new Machine(load(text));
    expect(m.diagnostics.find((d) => d.code === "memlock-short")).toBeUndefined();
  });
  it("a hard limit below guest RAM fails the start with ENOMEM and warns on the libvirt block", () => {
    const text = scenario("{ hard-limit: 3GiB }", "64KiB", "\n    expect: { errno: ENOMEM }");
    expect(run(text)).toMatchObject({ failures: [], errors: [] });
    const m = new Machine(load(text));
    const d = m.diagnostics.find((x) => x.code === "memlock-short");
    expect(d?.message).toBe("VM g: <memtune><hard_limit> 3GiB is 2GiB short of the 5GiB libvirt computes for its devices (4GiB guest RAM + 1GiB); libvirt sets RLIMIT_MEMLOCK to the hard limit instead");
    expect(d?.range.line).toBe(text.split("\n").findIndex((l) => l.includes("libvirt:")));
  });
  it("a hard limit of 4GiB is enough to pin 4GiB of RAM at start (short of libvirt's 5GiB only by its MMIO allowance)", () => {
    const text = scenario("{ hard-limit: 4GiB }", "64KiB", "\n    expect: { ok: true }");
    expect(run(text)).toMatchObject({ failures: [], errors: [] });
    const m = new Machine(load(text));
    expect(m.diagnostics.find((d) => d.code === "memlock-short")?.message).toContain("is 1GiB short of the 5GiB");
  });
});

describe("bad input", () => {
  it("a hard limit that is not whole KiB, unknown keys and a negative count are errors at their place", () => {
    const text = scenario("{ hard-limit: 1000, nvme: 1, vdpa-devices: -1 }");
    const ds = parseScenario(text, "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
    const line = text.split("\n").findIndex((l) => l.includes("libvirt:"));
    const hl = ds.find((d) => d.code === "libvirt-hard-limit");
    expect(hl?.message).toBe("libvirt.hard-limit must be a non-zero multiple of 1KiB");
    expect(hl?.range).toMatchObject({ line, column: text.split("\n")[line]!.indexOf("1000") });
    expect(ds.map((d) => d.message)).toContain('libvirt.vdpa-devices must be an integer from 0 to 64, not "-1"');
    // An unknown key is named (with the keys there are) wherever it stands.
    const unknown = parseScenario(text, "t.passthrough.yaml").diagnostics.find((d) => d.message.includes("nvme") && !d.message.includes("nvme-disks must"));
    expect(unknown?.range.line).toBe(line);
  });
});

describe("the hover on hard-limit:", () => {
  it("says libvirt uses the hard limit and how far it is short", () => {
    const text = scenario("{ hard-limit: 3GiB }");
    const server = new EngineServer();
    const uri = "file:///x/m.passthrough.yaml";
    server.handle("update", { uri, version: 1, text });
    const lines = text.split("\n");
    const line = lines.findIndex((l) => l.includes("hard-limit"));
    const h = server.handle("hover", { uri, line, character: lines[line]!.indexOf("3GiB") + 1, lineText: lines[line]!, radix: "hex" })!;
    expect(h.markdown).toContain("- VM `g`: libvirt sets the hard limit `3GiB` (computed: `5GiB`, 4GiB guest RAM + 1GiB); the VMM runs with `3GiB`; type1 pins 4GiB of guest RAM at start — **2GiB short**");
  });
});
