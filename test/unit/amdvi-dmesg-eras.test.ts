// AMD-Vi event lines per kernel generation (src/sim/amdvi/dmesg.ts), each against a real line
// from a public report where one exists, and the importer (src/import/dmesg/amdvi.ts) reading
// back every era's lines: a fast-check property renders random events in every era and requires
// one amdvi-event record with the event's name, device and address.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { amdEra, decodeEvent, ratelimitedPerDevice, renderEvent, type DecodedEvent } from "../../src/sim/amdvi/dmesg.js";
import { importText } from "../../src/import/index.js";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";

const words = (devid: number, type: number, flags: number, dom: number, addr: bigint): [number, number, number, number] => [devid, ((type << 28) | (flags << 16) | dom) >>> 0, Number(addr & 0xffffffffn), Number(addr >> 32n)];
const known = (drv: string) => () => ({ driver: drv });
const unknown = () => undefined;
const ev = (devid: number, type: number, flags: number, dom: number, addr: bigint): DecodedEvent => decodeEvent(words(devid, type, flags, dom, addr));
const records = (lines: string[]) => importText(lines.map((l, i) => `[  ${10 + i}.000000] ${l}`).join("\n"), "log").records.filter((r) => r.kind === "amdvi-event");

describe("amdEra: the kernel generations of iommu_print_event / amd_iommu_report_page_fault", () => {
  it("maps versions to the generation whose format strings they print", () => {
    expect(["4.4", "4.9", "4.12", "4.13", "4.14.336", "4.15", "4.17", "4.18.6", "4.19", "4.19.88", "4.19.89", "4.19.325", "4.20", "5.4", "5.19", "6.8"].map(amdEra)).toEqual([
      "3.x", "4.9", "4.9", "4.13", "4.13", "4.15", "4.15", "4.18", "4.18", "4.18", "4.19.89", "4.19.89", "4.20", "4.20", "5.19", "5.19",
    ]);
  });

  it("a known device's IO_PAGE_FAULT is ratelimited per device from amd_iommu_report_page_fault on (4.13), not before", () => {
    const e = ev(0x0100, 2, 0, 0, 0x1000n);
    expect(ratelimitedPerDevice(e, "4.9", known("nvme"))).toBe(false);
    expect(ratelimitedPerDevice(e, "4.14", known("nvme"))).toBe(true);
    expect(ratelimitedPerDevice(e, "4.18", known("nvme"))).toBe(true);
    expect(ratelimitedPerDevice(e, "4.18", unknown)).toBe(false);
  });
});

describe("IO_PAGE_FAULT lines of 4.13-4.19 (dev_err with \"AMD-Vi: \" in the string, address 0x%016llx)", () => {
  it("4.18: a known device's dev_err line and an unknown device's pr_err line, as a Debian 4.18.6 kernel printed them", () => {
    // linux-usb, Johan Hovold, "Re: Linux crash when using FTDI FT232R USB to serial converter on AMD
    // boards." (2019-04-29, <20190429112211.GK26546@localhost>), kernel 4.18.0-0.bpo.1-amd64 (Debian 4.18.6):
    //   "xhci_hcd 0000:15:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0000 address=0x00000000fff50000 flags=0x0020]"
    //   "AMD-Vi: Event logged [IO_PAGE_FAULT device=15:00.0 domain=0x0000 address=0x00000000fdeaf040 flags=0x0020]"
    const knownLine = "xhci_hcd 0000:15:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0000 address=0x00000000fff50000 flags=0x0020]";
    const unknownLine = "AMD-Vi: Event logged [IO_PAGE_FAULT device=15:00.0 domain=0x0000 address=0x00000000fdeaf040 flags=0x0020]";
    expect(renderEvent(ev(0x1500, 2, 0x20, 0, 0xfff50000n), "4.18.6", known("xhci_hcd"))).toEqual([knownLine]);
    expect(renderEvent(ev(0x1500, 2, 0x20, 0, 0xfdeaf040n), "4.18.6", unknown)).toEqual([unknownLine]);
    const [a, b] = records([knownLine, unknownLine]);
    expect(a!.fields).toMatchObject({ event: "IO_PAGE_FAULT", device: "15:00.0", driver: "xhci_hcd", address: "0x00000000fff50000", write: true });
    expect(b!.fields).toMatchObject({ event: "IO_PAGE_FAULT", device: "15:00.0", address: "0x00000000fdeaf040" });
  });

  it("4.14: IO_PAGE_FAULT through amd_iommu_report_page_fault, the other events still two printk records (v4.14 tree)", () => {
    expect(renderEvent(ev(0x0300, 2, 0, 7, 0xffc02000n), "4.14", known("vfio-pci"))).toEqual(["vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0007 address=0x00000000ffc02000 flags=0x0000]"]);
    // pcengines/apu2-documentation#240 (2021): "AMD-Vi: Event logged [" then
    // "INVALID_DEVICE_REQUEST device=00:00.1 address=0x000000fdf8000020 flags=0x0a00]"
    expect(renderEvent(ev(0x0001, 8, 0xa00, 0, 0xfdf8000020n), "4.14", unknown)).toEqual(["AMD-Vi: Event logged [", "INVALID_DEVICE_REQUEST device=00:00.1 address=0x000000fdf8000020 flags=0x0a00]"]);
  });

  it("4.15-4.17: the other events as two dev_err records of the IOMMU (\"iommu ivhd0: \"), joined back into one record", () => {
    const lines = renderEvent(ev(0x0300, 1, 0xa0, 0, 0x1000n), "4.15", unknown, { dte: [0x1000_0e03n, 3n, 0n, 0n] });
    expect(lines).toEqual([
      "iommu ivhd0: AMD-Vi: Event logged [",
      "iommu ivhd0: ILLEGAL_DEV_TABLE_ENTRY device=03:00.0 address=0x0000000000001000 flags=0x00a0]",
      "AMD-Vi: DTE[0]: 0000000010000e03",
      "AMD-Vi: DTE[1]: 0000000000000003",
      "AMD-Vi: DTE[2]: 0000000000000000",
      "AMD-Vi: DTE[3]: 0000000000000000",
    ]);
    const rs = records(lines);
    expect(rs).toHaveLength(1);
    expect(rs[0]!.fields).toMatchObject({ event: "ILLEGAL_DEV_TABLE_ENTRY", device: "03:00.0", address: "0x0000000000001000" });
    expect(rs[0]!.context.map((c) => c.text)).toEqual(lines.slice(2));
    // The default case: dev_err(dev, KERN_ERR "UNKNOWN event[0]=...") keeps the level's bytes, shown by dmesg as "\x013".
    const unk = renderEvent(decodeEvent([0x0300, 0xc000_0000, 0x10, 0]), "4.16", unknown);
    expect(unk[1]).toBe("iommu ivhd0: \\x013UNKNOWN event[0]=0x00000300 event[1]=0xc0000000 event[2]=0x00000010 event[3]=0x00000000");
    expect(records(unk)[0]!.fields).toMatchObject({ event: "UNKNOWN" });
  });

  it("4.18-4.19: pasid in ILLEGAL_DEV_TABLE_ENTRY and INVALID_DEVICE_REQUEST, INVALID_PPR_REQUEST printed", () => {
    expect(renderEvent(ev(0x0001, 8, 0xa00, 0, 0xfdf8000020n), "4.19", unknown)[1]).toBe("iommu ivhd0: INVALID_DEVICE_REQUEST device=00:00.1 pasid=0x00000 address=0x000000fdf8000020 flags=0x0a00]");
    // INVALID_PPR_REQUEST: pasid = ((event[0] >> 16) & 0xFFFF) | ((event[1] << 6) & 0xF0000) (4.19).
    expect(renderEvent(decodeEvent([0x0005_0100, (9 << 28) | 0x3000, 0x2000, 0]), "4.19", unknown)[1]).toBe("iommu ivhd0: INVALID_PPR_REQUEST device=01:00.0 pasid=0xc0005 address=0x0000000000002000 flags=0x0000]");
    // Before 4.18 it had no case of its own.
    expect(renderEvent(decodeEvent([0x0100, 9 << 28, 0, 0]), "4.14", unknown)[1]).toBe("UNKNOWN type=0x09]");
  });

  it("4.19.89 on (stable backport of \"Fix line-break in error log reporting\"): one dev_err line, without \"AMD-Vi: \"", () => {
    // iommu list, Lennert Buytenhek, "[PATCH] iommu/amd: Fix I/O page fault logging ratelimit test"
    // (2021-07, <YPTLl7XHOGp5NiVH@wantstofly.org>): "drvname 0000:05:00.0: Event logged [IO_PAGE_FAULT
    // domain=0x0000 address=0x0000000092050da0 flags=0x0020]" and "AMD-Vi: Event logged [IO_PAGE_FAULT
    // device=05:00.0 domain=0x0000 address=0x0000000092050de0 flags=0x0020]" (only 4.19.89+ prints both forms so).
    const line = "drvname 0000:05:00.0: Event logged [IO_PAGE_FAULT domain=0x0000 address=0x0000000092050da0 flags=0x0020]";
    expect(renderEvent(ev(0x0500, 2, 0x20, 0, 0x92050da0n), "4.19.100", known("drvname"))).toEqual([line]);
    expect(renderEvent(ev(0x0500, 2, 0x20, 0, 0x92050de0n), "4.19.100", unknown)).toEqual(["AMD-Vi: Event logged [IO_PAGE_FAULT device=05:00.0 domain=0x0000 address=0x0000000092050de0 flags=0x0020]"]);
    expect(renderEvent(ev(0x0300, 6, 0, 0, 0x1000n), "4.19.100", unknown)).toEqual(["iommu ivhd0: Event logged [COMMAND_HARDWARE_ERROR address=0x0000000000001000 flags=0x0000]"]);
    expect(records([line])[0]!.fields).toMatchObject({ event: "IO_PAGE_FAULT", device: "05:00.0", driver: "drvname", write: true });
  });

  it("4.9-4.12: IO_PAGE_FAULT as two printk records (no amd_iommu_report_page_fault yet)", () => {
    // pcengines/apu2-documentation#240: "AMD-Vi: Event logged [" then "IO_PAGE_FAULT device=05:00.0 domain=0x0012 address=0x00000000ff6101b0 flags=0x0070]"
    expect(renderEvent(ev(0x0500, 2, 0x70, 0x12, 0xff6101b0n), "4.9", known("igb"))).toEqual(["AMD-Vi: Event logged [", "IO_PAGE_FAULT device=05:00.0 domain=0x0012 address=0x00000000ff6101b0 flags=0x0070]"]);
  });
});

describe("every era's lines import back (property)", () => {
  const ERAS = ["4.4", "4.9", "4.14", "4.15", "4.18", "4.19.89", "5.4", "6.8"];
  const NAMES: Record<number, string> = { 1: "ILLEGAL_DEV_TABLE_ENTRY", 2: "IO_PAGE_FAULT", 3: "DEV_TAB_HARDWARE_ERROR", 4: "PAGE_TAB_HARDWARE_ERROR", 5: "ILLEGAL_COMMAND_ERROR", 6: "COMMAND_HARDWARE_ERROR", 7: "IOTLB_INV_TIMEOUT", 8: "INVALID_DEVICE_REQUEST" };
  it("render -> import gives one record with the event, its device and its address", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ERAS),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xfff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }),
        fc.boolean(),
        (kernel, type, devid, flags, dom, addr, isKnown) => {
          const lines = renderEvent(ev(devid, type, flags, dom, addr), kernel, isKnown ? known("vfio-pci") : unknown);
          const rs = records(lines);
          expect(rs).toHaveLength(1);
          const f = rs[0]!.fields;
          expect(f.event).toBe(NAMES[type]);
          expect(BigInt(f.address as string)).toBe(addr);
          if (type !== 5 && type !== 6) expect(String(f.device).replace(/^0000:/, "")).toBe(`${(devid >> 8).toString(16).padStart(2, "0")}:${((devid >> 3) & 0x1f).toString(16).padStart(2, "0")}.${devid & 7}`);
          expect(rs[0]!.endLine - rs[0]!.line).toBe(lines.length - 1);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("examples/amd-kernel-418-fault: the host's kernel picks the generation", () => {
  const text = readFileSync(join(__dirname, "..", "..", "examples", "amd-kernel-418-fault.passthrough.yaml"), "utf8");
  const faultLines = (kernel: string) => {
    const { run } = runScenario(parseScenario(text.replace(/^  kernel: "4.18.6"$/m, `  kernel: "${kernel}"`), "x").scenario!);
    expect(run!.outcomes.every((o) => !o.expect || o.expect.pass)).toBe(true);
    return run!.machine.log.dmesg().filter((l) => /Event logged|IO_PAGE_FAULT/.test(l)).map((l) => l.replace(/^\[[ \d.]+\] /, ""));
  };
  it("4.18.6, 6.8 and 4.9 print the fault in their own format", () => {
    expect(faultLines("4.18.6")).toEqual(["vfio-pci 0000:15:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0003 address=0x00000000fff50000 flags=0x0020]"]);
    expect(faultLines("6.8")).toEqual(["vfio-pci 0000:15:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0003 address=0xfff50000 flags=0x0020]"]);
    expect(faultLines("4.9")).toEqual(["AMD-Vi: Event logged [", "IO_PAGE_FAULT device=15:00.0 domain=0x0003 address=0x00000000fff50000 flags=0x0020]"]);
  });
});
