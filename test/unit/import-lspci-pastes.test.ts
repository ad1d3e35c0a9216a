/**
 * lspci output as people paste it. The line shapes follow pciutils' lspci.c: show_terse prints
 * `<slot> <class>: <vendor device> (rev xx)` with " %s: %s", where `-n` (PCI_LOOKUP_NUMERIC)
 * turns the names into `cccc` and `vvvv:dddd`; show_kernel prints `\tKernel driver in use: %s` and
 * `\tKernel modules: %s` under `-k`. Prompts, `grep -A` separators, mail quotes and a forum's
 * lost tabs are what a paste adds around that.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { detectKind, importText, parseLspci } from "../../src/import/index.js";

const devices = (text: string) => parseLspci(text).records.map((r) => r.fields);

describe("lspci pastes", () => {
  it("reads `lspci -n` and `lspci -nk`: class and vendor:device as bare hex", () => {
    const text = ["01:00.0 0300: 10de:1b80 (rev a1)", "\tKernel driver in use: vfio-pci", "\tKernel modules: nouveau, nvidia_drm, nvidia", "01:00.1 0403: 10de:10f0 (rev a1)", "\tKernel driver in use: snd_hda_intel"].join("\n");
    expect(detectKind(text)).toBe("lspci");
    expect(devices(text)).toEqual([
      { device: "01:00.0", classId: "0300", vendorId: "10de", deviceId: "1b80", rev: "a1", driver: "vfio-pci", modules: "nouveau, nvidia_drm, nvidia" },
      { device: "01:00.1", classId: "0403", vendorId: "10de", deviceId: "10f0", rev: "a1", driver: "snd_hda_intel" },
    ]);
    expect(parseLspci(text).records[0]!.summary).toBe("01:00.0 [10de:1b80] (driver vfio-pci)");
  });

  it("a block pasted after a shell prompt, with grep -A separators: the prompt is not a device, every device keeps its own driver", () => {
    const text = [
      "user@host:~$ lspci -nnk | grep -A3 -E 'VGA|Audio'",
      "0a:00.0 VGA compatible controller [0300]: Advanced Micro Devices, Inc. [AMD/ATI] Navi 21 [Radeon RX 6800/6800 XT / 6900 XT] [1002:73bf] (rev c1)",
      "\tSubsystem: Sapphire Technology Limited Nitro+ Radeon RX 6800 XT [1da2:e438]",
      "\tKernel driver in use: amdgpu",
      "\tKernel modules: amdgpu",
      "--",
      "0a:00.1 Audio device [0403]: Advanced Micro Devices, Inc. [AMD/ATI] Navi 21/23 HDMI/DP Audio Controller [1002:ab28]",
      "\tKernel driver in use: vfio-pci",
      "user@host:~$ ",
    ].join("\n");
    expect(detectKind(text)).toBe("lspci");
    const r = parseLspci(text);
    expect(r.records.map((x) => [x.fields.device, x.fields.driver, x.fields.subsystem])).toEqual([
      ["0a:00.0", "amdgpu", "Sapphire Technology Limited Nitro+ Radeon RX 6800 XT [1da2:e438]"],
      ["0a:00.1", "vfio-pci", undefined],
    ]);
    expect(r.records[0]!.fields.vendorId).toBe("1002");
    expect(r.skipped.map((s) => [s.line, s.reason])).toEqual([
      [0, "shell prompt"],
      [5, "grep separator"],
      [8, "shell prompt"],
    ]);
  });

  it("a forum paste that lost its tabs, and a mail-quoted one, read like the original", () => {
    const original = ["01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP104 [GeForce GTX 1080] [10de:1b80] (rev a1)", "\tSubsystem: eVga.com. Corp. Device [3842:6183]", "\tKernel driver in use: nvidia", "\tKernel modules: nouveau, nvidia"].join("\n");
    const want = devices(original);
    expect(want[0]).toMatchObject({ driver: "nvidia", modules: "nouveau, nvidia", vendorId: "10de" });
    const untabbed = original.replace(/\t/g, "");
    const quoted = original.split("\n").map((l) => `> ${l}`).join("\n");
    const indented = original.split("\n").map((l) => `    ${l}`).join("\n");
    for (const text of [untabbed, quoted, indented]) {
      expect(detectKind(text)).toBe("lspci");
      expect(devices(text)).toEqual(want);
      expect(parseLspci(text).skipped).toEqual([]);
    }
    // The record's column is where the device line starts after the quote.
    expect(parseLspci(quoted).records[0]!.column).toBe(2);
  });

  it("colour codes from a terminal capture are not part of any field", () => {
    const text = "\x1b[1m01:00.0\x1b[0m 0300: 10de:1b80 (rev a1)\n\tKernel driver in use: \x1b[32mvfio-pci\x1b[0m";
    expect(devices(text)).toEqual([{ device: "01:00.0", classId: "0300", vendorId: "10de", deviceId: "1b80", rev: "a1", driver: "vfio-pci" }]);
  });

  it("property: any paste decoration around a generated lspci -nnk block keeps every device and driver", () => {
    const hex4 = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16).padStart(4, "0"));
    const dev = fc.record({ bus: fc.integer({ min: 0, max: 255 }), slot: fc.integer({ min: 0, max: 31 }), fn: fc.integer({ min: 0, max: 7 }), cls: hex4, ven: hex4, did: hex4, numeric: fc.boolean(), driver: fc.constantFrom("vfio-pci", "nvidia", "amdgpu", "snd_hda_intel", "xhci_hcd", "pcieport") });
    const deco = fc.constantFrom("", "> ", "    ", ">> ");
    fc.assert(
      fc.property(fc.uniqueArray(dev, { selector: (d) => `${d.bus}:${d.slot}.${d.fn}`, minLength: 1, maxLength: 6 }), deco, fc.boolean(), (devs, prefix, dropTabs) => {
        const lines = ["root@pve:~# lspci -nnk"];
        for (const d of devs) {
          const bdf = `${d.bus.toString(16).padStart(2, "0")}:${d.slot.toString(16).padStart(2, "0")}.${d.fn}`;
          lines.push(d.numeric ? `${bdf} ${d.cls}: ${d.ven}:${d.did}` : `${bdf} Ethernet controller [${d.cls}]: Some Vendor Device [${d.ven}:${d.did}]`);
          lines.push(`${dropTabs ? "" : "\t"}Kernel driver in use: ${d.driver}`);
        }
        const text = lines.map((l, k) => (k === 0 ? l : prefix + l)).join("\n");
        const r = importText(text);
        expect(r.kind).toBe("lspci");
        expect(r.records.map((x) => [x.fields.vendorId, x.fields.deviceId, x.fields.driver])).toEqual(devs.map((d) => [d.ven, d.did, d.driver]));
      }),
      { numRuns: 200 },
    );
  });
});
