// AMD-Vi IVRS device entries: the IVHD byte format (scenario/ivhd.ts) read back from a real
// firmware table, Linux's reading of it (sim/amdvi/ivrs.ts: init_iommu_from_acpi's alias table and
// DTE settings), and what an alias does on a host: DMA carries the alias's device id, the alias's
// DTE is a copy of the device's (clone_aliases), a same-bus alias joins the PCI DMA aliases
// (setup_aliases -> pci_add_dma_alias, so the IOMMU group), and the fault line names the alias.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import { Machine } from "../../src/sim/machine.js";
import { PciTopology } from "../../src/sim/pci.js";
import { aliasExt, decodeIvhd, ivhdEntry4, ivhdEntry8, parseHexBytes } from "../../src/scenario/ivhd.js";
import { applyIvhd, ivhdDte } from "../../src/sim/amdvi/ivrs.js";
import { AmdViHost } from "../../src/sim/amdvi/host.js";

/**
 * The device entries of the first IVHD (type 0x10, 0x44 bytes at 0x30: 24 header bytes, then
 * these 44) of the IVRS table dumped in QubesOS/qubes-issues#10931 (Asus ProArt PX13, Strix Halo;
 * `hexdump IVRS`, 2026-06-18), the 16-bit little-endian words of offsets 0x48-0x73 as bytes.
 */
const QUBES_10931_IVHD = "03 03 00 00 04 fe ff 00 43 00 ff 00 00 a5 00 00 04 ff ff 00 48 00 00 00 00 a0 00 02 48 00 00 d7 21 a0 00 01 48 00 00 00 22 01 00 01";

describe("IVHD device entries", () => {
  it("decodes the real table of QubesOS/qubes-issues#10931: a range, the FCH's alias range ff:xx -> 00:14.5, HPET and two IOAPICs", () => {
    const p = parseHexBytes(QUBES_10931_IVHD);
    if (!("bytes" in p)) throw new Error("bad hex");
    const d = decodeIvhd(p.bytes);
    if (!d.ok) throw new Error(d.message);
    expect(d.entries.map((e) => [e.type, e.devid, e.flags])).toEqual([
      [0x03, 0x0003, 0],
      [0x04, 0xfffe, 0],
      [0x43, 0xff00, 0],
      [0x04, 0xffff, 0],
      [0x48, 0x0000, 0],
      [0x48, 0x0000, 0xd7],
      [0x48, 0x0000, 0],
    ]);
    const ivrs = applyIvhd(d.entries, -1);
    // DEV_ALIAS_RANGE devid ff:00.0 .. DEV_RANGE_END ff:1f.7, devid_to 00:14.5 (ext 0x0000a500 >> 8).
    expect(ivrs.alias.size).toBe(256);
    expect(ivrs.alias.get(0xff00)).toBe(0x00a5);
    expect(ivrs.alias.get(0xffff)).toBe(0x00a5);
    expect(ivrs.alias.has(0xfeff)).toBe(false);
    expect(ivrs.lastDevid).toBe(0xffff);
    // IOAPIC 0x21 at 00:14.0 with flags 0xd7: INIT, EINT, NMI, SYSMGT1, LINT0, LINT1 passed through.
    expect(ivrs.flags.get(0x00a0)).toBe(0xd7);
    expect(ivrs.flags.has(0x0001)).toBe(false);
  });

  it("IVHD flags set the DEV_ENTRY_* bits of the DTE, and SysMgt 01b sets IW (erratum 63)", () => {
    const d = ivhdDte(0xd7);
    expect(d[2]).toBe((1n << 56n) | (1n << 57n) | (1n << 58n) | (1n << 62n) | (1n << 63n));
    expect(d[1]).toBe(1n << 40n);
    expect(d[0]).toBe(1n << 62n);
    expect(ivhdDte(0x30)[0]).toBe(0n); // SysMgt 11b: no IW
  });

  const entry = fc.oneof(
    fc.record({ t: fc.constantFrom(0x01, 0x02, 0x03, 0x04), d: fc.integer({ min: 0, max: 0xffff }), f: fc.integer({ min: 0, max: 255 }) }).map(({ t, d, f }) => ivhdEntry4(t, d, f)),
    fc.record({ t: fc.constantFrom(0x42, 0x43, 0x46, 0x47, 0x48), d: fc.integer({ min: 0, max: 0xffff }), f: fc.integer({ min: 0, max: 255 }), x: fc.integer({ min: 0, max: 0xffffffff }) }).map(({ t, d, f, x }) => ivhdEntry8(t, d, f, x)),
  );

  it("decode reads back every entry it was given, at its offset (property)", () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), (list) => {
        const d = decodeIvhd(list.flat());
        if (!d.ok) return false;
        let at = 0;
        return (
          d.entries.length === list.length &&
          d.entries.every((e, i) => {
            const b = list[i]!;
            const ok = e.offset === at && e.type === b[0] && e.devid === (b[1]! | (b[2]! << 8)) && e.flags === b[3] && e.length === b.length && (b.length === 4 || e.ext === (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) >>> 0);
            at += b.length;
            return ok;
          })
        );
      }),
    );
  });

  it("any bytes decode or name the entry that cannot be read, never hang (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const d = decodeIvhd(bytes);
        if (d.ok) return d.entries.reduce((n, e) => n + e.length, 0) === bytes.length;
        return d.offset >= 0 && d.offset < bytes.length && d.hint.length > 0;
      }),
    );
  });

  it("a range's start and end carry devid_start, flags and the alias as Linux keeps them in locals", () => {
    const bytes = [...ivhdEntry8(0x43, 0x0300, 0, aliasExt(0x0200)), ...ivhdEntry4(0x04, 0x0307, 0), ...ivhdEntry4(0x03, 0x0500, 0x01), ...ivhdEntry4(0x04, 0x0501, 0)];
    const d = decodeIvhd(bytes);
    if (!d.ok) throw new Error(d.message);
    const ivrs = applyIvhd(d.entries, 0x05ff);
    expect([...ivrs.alias]).toEqual([0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x0305, 0x0306, 0x0307].map((k) => [k, 0x0200]));
    expect([...ivrs.flags]).toEqual([
      [0x0500, 1],
      [0x0501, 1],
    ]);
  });
});

const aliasHost = (ivhd: string, pci: string, steps = "") => `host:
  memory: 16GiB
  kernel: "6.8"
  iommu:
    model: amd-vi
    ivhd:
${ivhd}
  pci:
${pci}
vms:
  - name: vm
    memory: 4GiB
    devices: ["04:00.0"]
workload:
  - start: vm
${steps}`;

const ROOT4 = `    - { bdf: "00:01.2", kind: root-port, acs: true, secondary-bus: 4 }
    - { bdf: "04:00.0", parent: "00:01.2", driver: vfio-pci }`;

describe("IVRS aliases on an AMD-Vi host", () => {
  it("examples/amd-ivrs-alias: DMA translates through the alias's DTE and the fault names devid 04:00.1 as Linux prints an unknown id", () => {
    const f = join(__dirname, "..", "..", "examples", "amd-ivrs-alias.passthrough.yaml");
    const { run } = runScenario(parseScenario(readFileSync(f, "utf8"), f).scenario!);
    expect(run!.outcomes.map((o) => o.expect?.failures ?? [])).toEqual([[], [], []]);
    const last = run!.machine.log.dmesg().at(-1)!.replace(/^\[[ \d.]+\] /, "");
    // iommu.c amd_iommu_report_page_fault: no pci_dev at the devid -> pr_err_ratelimited with device=.
    expect(last).toBe("AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:04:00.1 domain=0x0003 address=0x4000000000 flags=0x0000]");
  });

  it("without the alias entry the same fault is the device's own, printed by pci_err", () => {
    const text = aliasHost("      - { type: range, first: \"00:00.0\", last: \"04:1f.7\" }", ROOT4, "  - dma: { device: \"04:00.0\", iova: 0x40_0000_0000, length: 64, write: false }\n");
    const { run } = runScenario(parseScenario(text, "x").scenario!);
    expect(run!.machine.log.dmesg().at(-1)).toMatch(/\] vfio-pci 0000:04:00\.0: AMD-Vi: Event logged \[IO_PAGE_FAULT domain=0x0003 address=0x4000000000 flags=0x0000\]$/);
  });

  it("the alias's DTE is the device's (clone_aliases), also across buses, and is the one a request reads", () => {
    const text = aliasHost("      - { type: alias-range, first: \"04:00.0\", last: \"04:1f.7\", alias: \"00:14.5\" }", ROOT4);
    const m = new Machine(parseScenario(text, "x").scenario!);
    m.runStep(m.scenario.workload[0]!);
    const host = m.hostIommu as AmdViHost;
    const dte = (devid: number) => [0, 8, 16].map((o) => m.mem.readU64(host.driver.deviceTable + devid * 32 + o));
    expect(dte(0x00a5)[0]! & 0xfffn).toBe(dte(0x0400)[0]! & 0xfffn);
    expect(dte(0x00a5)[0]).toBe(dte(0x0400)[0]);
    expect(dte(0x00a5)[1]).toBe(dte(0x0400)[1]);
    // The requester id of 04:00.0 is now 00:14.5: the trail starts at that DTE.
    expect(m.pci.requesterId(m.pci.device("04:00.0")!)).toBe(0x00a5);
    // Another bus: not a PCI DMA alias (setup_aliases adds same-bus aliases only).
    expect(m.pci.dmaAliases(m.pci.device("04:00.0")!)).toEqual([0x0400]);
  });

  it("a same-bus alias is a PCI DMA alias: a device aliased to another function shares its IOMMU group", () => {
    const specs = parseScenario(aliasHost("      - { type: alias, device: \"04:00.0\", alias: \"04:01.0\" }", `${ROOT4}\n    - { bdf: "04:01.0", parent: "00:01.2", driver: ahci }`), "x").scenario!.host.pci;
    const without = PciTopology.build(specs).topology;
    expect(without.groupOf(without.device("04:00.0")!)).not.toBe(without.groupOf(without.device("04:01.0")!));
    const t = PciTopology.build(specs, undefined, new Map([[0x0400, 0x0408]])).topology;
    expect(t.dmaAliases(t.device("04:00.0")!)).toEqual([0x0400, 0x0408]);
    expect(t.groupOf(t.device("04:00.0")!)).toBe(t.groupOf(t.device("04:01.0")!));
  });

  it("the IVHD's flags are in the DTE at boot and stay there after attach (set_dte_entry ORs the initial DTE)", () => {
    const text = aliasHost("      - { type: select, device: \"04:00.0\", flags: 0x04 }", ROOT4);
    const m = new Machine(parseScenario(text, "x").scenario!);
    const host = m.hostIommu as AmdViHost;
    const q2 = m.mem.readU64(host.driver.deviceTable + 0x0400 * 32 + 16)!;
    expect((q2 >> 58n) & 1n).toBe(1n); // NMI_PASS (DEV_ENTRY_NMI_PASS 0xba)
  });
});

describe("host.iommu.ivhd errors", () => {
  const errs = (ivhd: string) => parseScenario(aliasHost(ivhd, ROOT4), "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");

  it("a token that is not a hex byte, at its line and column", () => {
    const d = errs("      - { bytes: \"42 00 04 zz\" }");
    expect(d).toHaveLength(1);
    expect(d[0]!.message).toMatch(/"zz" is not a byte in hex/);
    expect(d[0]!.range.line).toBe(6);
  });

  it("an entry type Linux's ivhd_entry_length gives no length, with the rule as the hint", () => {
    const d = errs("      - { type: select, device: \"04:00.0\" }\n      - { bytes: \"f5 00 04 00\" }");
    expect(d).toHaveLength(1);
    expect(d[0]!.message).toMatch(/type 0xf5 at byte 4 has no length Linux knows/);
    expect(d[0]!.hint).toMatch(/ivhd_entry_length/);
    expect(d[0]!.range.line).toBe(7);
  });

  it("a truncated 8-byte alias entry", () => {
    const d = errs("      - { bytes: \"42 00 04 00 00 01\" }");
    expect(d[0]!.message).toMatch(/needs 8 bytes, only 6 are left/);
  });

  it("an unknown type suggests the nearest, a range backwards is refused, and ivhd on VT-d is an error", () => {
    expect(errs("      - { type: alias-rnage, first: \"04:00.0\", last: \"04:00.7\", alias: \"00:14.5\" }")[0]!.hint).toMatch(/alias-range/);
    expect(errs("      - { type: range, first: \"04:00.7\", last: \"04:00.0\" }")[0]!.message).toMatch(/ends before it starts/);
    const vtd = parseScenario("host:\n  iommu:\n    model: intel-vtd\n    ivhd: []\n", "x").diagnostics.filter((d) => d.severity === "error");
    expect(vtd[0]!.message).toMatch(/ivhd is an AMD-Vi option/);
  });
});
