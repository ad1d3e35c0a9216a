// iommufd beyond one IOAS (sim/iommufdObjects.ts): object ids, IOMMU_IOAS_ALLOC / MAP / COPY,
// IOMMU_HWPT_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT and IOMMU_DESTROY with the errno rules of a v6.6
// drivers/iommu/iommufd/, run as scenario steps; and the step's bad input at file:line:col.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { simulateText } from "../../src/cli/simulate.js";
import { parseScenario } from "../../src/scenario/index.js";

const HEAD = `host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:1c.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "10de:1eb8", parent: "00:1c.0", driver: vfio-pci }
vms:
  - { name: g, memory: 1GiB, devices: ["01:00.0"], backend: iommufd }
workload:
  - start: g
`;

const fd = (body: string) => `  - iommufd: { vm: g, ${body} }\n`;

function run(steps: string) {
  const r = simulateText(HEAD + steps, "t.passthrough.yaml");
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return r.steps.slice(1).map((s) => (s.errno ? s.errno : s.fault !== undefined ? `fault 0x${s.fault.toString(16)}` : s.status === "error" ? `error: ${s.summary}` : s.summary));
}

describe("iommufd objects", () => {
  it("IOAS_ALLOC hands out the lowest free id after QEMU's IOAS 1, device 2 and automatic hwpt 3; DESTROY frees it for reuse", () => {
    const out = run(fd("ioctl: IOMMU_IOAS_ALLOC") + fd("ioctl: IOMMU_IOAS_ALLOC") + fd("ioctl: IOMMU_DESTROY, id: 4") + fd("ioctl: IOMMU_IOAS_ALLOC") + fd("ioctl: IOMMU_DESTROY, id: 9"));
    expect(out.slice(0, 4)).toEqual(["IOMMU_IOAS_ALLOC -> IOAS 4 (empty, no domain yet)", "IOMMU_IOAS_ALLOC -> IOAS 5 (empty, no domain yet)", "IOMMU_DESTROY: IOAS 4 destroyed", "IOMMU_IOAS_ALLOC -> IOAS 4 (empty, no domain yet)"]);
    expect(out[4]).toBe("ENOENT");
  });

  it("an id of the wrong kind is ENOENT for IOAS ioctls and HWPT_ALLOC, EINVAL for ATTACH; bound devices and used objects are EBUSY", () => {
    const out = run(
      fd("ioctl: IOMMU_IOAS_MAP, ioas: 3, iova: 0x100000, gpa: 0, length: 4KiB") +
        fd('ioctl: IOMMU_HWPT_ALLOC, device: "01:00.0", pt: 3') +
        fd('ioctl: VFIO_DEVICE_ATTACH_IOMMUFD_PT, device: "01:00.0", pt: 2') +
        fd("ioctl: IOMMU_DESTROY, id: 2") +
        fd("ioctl: IOMMU_DESTROY, id: 3") +
        fd("ioctl: IOMMU_DESTROY, id: 1"),
    );
    expect(out).toEqual(["ENOENT", "ENOENT", "EINVAL", "EBUSY", "EBUSY", "EBUSY"]);
  });

  it("IOAS_COPY shares covered areas (across adjacent mappings), refuses a hole with ENOENT, an overlap at the destination with EEXIST, length 0 with EINVAL", () => {
    const out = run(
      fd("ioctl: IOMMU_IOAS_ALLOC") +
        fd("ioctl: IOMMU_IOAS_MAP, ioas: 4, iova: 0x100000, gpa: 0x0, length: 8KiB") +
        fd("ioctl: IOMMU_IOAS_MAP, ioas: 4, iova: 0x102000, gpa: 0x10000, length: 8KiB") +
        fd("ioctl: IOMMU_IOAS_COPY, src-ioas: 4, src-iova: 0x101000, ioas: 1, iova: 0x7000000000, length: 12KiB") +
        fd("ioctl: IOMMU_IOAS_COPY, src-ioas: 4, src-iova: 0x101000, ioas: 1, iova: 0x7100000000, length: 16KiB") +
        fd("ioctl: IOMMU_IOAS_COPY, src-ioas: 4, src-iova: 0x100000, ioas: 1, iova: 0x7000001000, length: 4KiB") +
        fd("ioctl: IOMMU_IOAS_COPY, src-ioas: 4, src-iova: 0x100000, ioas: 1, iova: 0x7200000000, length: 0"),
    );
    expect(out[3]).toContain("IOMMU_IOAS_COPY: IOAS 4 IOVA 0x101000+0x3000 -> IOAS 1 IOVA 0x7000000000");
    expect(out.slice(4)).toEqual(["ENOENT", "EEXIST", "EINVAL"]);
  });

  it("a copied IOVA reaches the source's guest pages through the device's domain", () => {
    const steps = fd("ioctl: IOMMU_IOAS_ALLOC") + fd("ioctl: IOMMU_IOAS_MAP, ioas: 4, iova: 0x100000, gpa: 0x3000, length: 4KiB") + fd("ioctl: IOMMU_IOAS_COPY, src-ioas: 4, src-iova: 0x100000, ioas: 1, iova: 0x7000000000, length: 4KiB");
    const r = simulateText(HEAD + steps + `  - translate: { device: "01:00.0", iova: 0x7000000000 }\n  - translate: { device: "01:00.0", iova: 0x3000 }\n`, "t.passthrough.yaml");
    const [viaCopy, direct] = r.steps.slice(-2);
    expect(viaCopy!.summary).toContain("HPA");
    const hpa = (t: string) => t.split("HPA")[1]!.split(" (")[0];
    expect(hpa(viaCopy!.summary)).toBe(hpa(direct!.summary));
  });

  it("HWPT_ALLOC fills a new domain from its IOAS; ATTACH moves the device there and drops the unused automatic hwpt; ATTACH to an IOAS makes its automatic domain", () => {
    const out = run(
      fd("ioctl: IOMMU_IOAS_ALLOC") +
        fd("ioctl: IOMMU_IOAS_MAP, ioas: 4, iova: 0x7f00000000, gpa: 0x0, length: 4KiB") +
        fd('ioctl: IOMMU_HWPT_ALLOC, device: "01:00.0", pt: 4') +
        `  - dma: { device: "01:00.0", iova: 0x7f00000000, length: 64 }\n` +
        fd('ioctl: VFIO_DEVICE_ATTACH_IOMMUFD_PT, device: "01:00.0", pt: 5') +
        `  - dma: { device: "01:00.0", iova: 0x7f00000000, length: 64 }\n` +
        fd("ioctl: IOMMU_DESTROY, id: 3") +
        fd('ioctl: VFIO_DEVICE_ATTACH_IOMMUFD_PT, device: "01:00.0", pt: 1') +
        fd("ioctl: IOMMU_DESTROY, id: 5") +
        `  - dma: { device: "01:00.0", iova: 0x7f00000000, length: 64 }\n` +
        `  - dma: { device: "01:00.0", iova: 0x100000, length: 64 }\n`,
    );
    expect(out[2]).toMatch(/^IOMMU_HWPT_ALLOC -> hwpt 5: domain \d+ for 01:00.0's IOMMU, filled from IOAS 4 \(1 mapping\); not attached$/);
    expect(out[3]).toBe("fault 0x6");
    expect(out[4]).toContain("now translates through hwpt 5");
    expect(out[4]).toContain("automatic hwpt 3");
    expect(out[5]).toContain("bytes read");
    expect(out[6]).toBe("ENOENT");
    expect(out[7]).toContain("through hwpt 3 = domain");
    expect(out[8]).toBe("IOMMU_DESTROY: hwpt 5 destroyed");
    // Back on IOAS 1 (a new automatic domain filled with guest RAM at IOVA = GPA).
    expect(out[9]).toBe("fault 0x6");
    expect(out[10]).toContain("bytes read");
  });

  it("object ids stay the lowest free ones under any sequence of allocs and destroys (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 4, max: 8 })), { minLength: 1, maxLength: 12 }), (ops) => {
        const live = new Set([1, 2, 3]);
        const expected: string[] = [];
        let steps = "";
        for (const op of ops) {
          if (op === 0) {
            let id = 1;
            while (live.has(id)) id++;
            live.add(id);
            steps += fd("ioctl: IOMMU_IOAS_ALLOC");
            expected.push(`IOMMU_IOAS_ALLOC -> IOAS ${id} (empty, no domain yet)`);
          } else {
            steps += fd(`ioctl: IOMMU_DESTROY, id: ${op}`);
            expected.push(live.delete(op) ? `IOMMU_DESTROY: IOAS ${op} destroyed` : "ENOENT");
          }
        }
        expect(run(steps)).toEqual(expected);
      }),
      { numRuns: 25 },
    );
  });
});

describe("iommufd steps: bad input", () => {
  const errs = (steps: string) => parseScenario(HEAD + steps, "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
  it("a key the ioctl does not take, a missing key and an unknown ioctl are errors at their place", () => {
    const text = HEAD + fd("ioctl: IOMMU_IOAS_ALLOC, ioas: 4");
    const e = errs(fd("ioctl: IOMMU_IOAS_ALLOC, ioas: 4"));
    expect(e.map((d) => d.message)).toEqual(["IOMMU_IOAS_ALLOC takes no ioas"]);
    const line = text.split("\n").length - 2;
    expect(e[0]!.range).toMatchObject({ line, column: text.split("\n")[line]!.indexOf("ioas: 4") });
    expect(errs(fd("ioctl: IOMMU_IOAS_MAP, ioas: 4, iova: 0x1000, length: 4KiB")).map((d) => d.message)).toEqual(['the IOMMU_IOAS_MAP step needs "gpa"']);
    expect(errs(fd("ioctl: IOMMU_IOAS_FREE")).map((d) => d.code)).toEqual(["invalid-value"]);
  });
  it("steps on a type1 VM or a stopped VM are errors of the step, not of the scenario", () => {
    const r = simulateText(HEAD.replace(", backend: iommufd", "") + fd("ioctl: IOMMU_IOAS_ALLOC"), "t.passthrough.yaml");
    expect(r.steps[1]!.summary).toBe("VM g uses the type1 container, not iommufd (backend: iommufd)");
  });
});
