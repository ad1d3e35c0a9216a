/**
 * Device reset, power, AER and ROM lines, decoded and explained. Samples: the dmesg of kernel
 * bugzilla attachment 307382 as quoted in a linux-pci reply (an RX 6000-series GPU, 1002:73ef,
 * with vfio-pci); the FLR wait lines quoted in a linux-pci review ("unpleasant recovery attempts",
 * 0007:00:00.1); a user's "Refused to change power state, currently in D3" report and a Proxmox
 * user's ROM signature lines (found through the code search of public pastes). The "giving up"
 * line and the newer power-state lines are the kernel's format strings (cited in
 * src/import/deviceEvents.ts) with the prefix pci_warn() adds.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { explainRecords, importText } from "../../src/import/index.js";

const BUGZILLA = [
  "vfio-pci 0000:03:00.0: vfio_bar_restore: reset recovery - restoring BARs",
  "pcieport 0000:00:01.1: AER: Multiple Uncorrectable (Non-Fatal) error message received from 0000:03:00.1",
  "vfio-pci 0000:03:00.0: PCIe Bus Error: severity=Uncorrectable (Non-Fatal), type=Transaction Layer, (Requester ID)",
  "vfio-pci 0000:03:00.0:   device [1002:73ef] error status/mask=00100000/00000000",
].join("\n");

const events = (text: string) => importText(text).records.filter((r) => r.kind === "device-event").map((r) => r.fields);

describe("device reset, power and error lines", () => {
  it("decodes a real report: BAR restore, AER from the port, the error's layer and status", () => {
    expect(events(BUGZILLA)).toEqual([
      { event: "bar-restore", device: "0000:03:00.0", driver: "vfio-pci" },
      { event: "aer", device: "0000:00:01.1", driver: "pcieport", severity: "non-fatal", multiple: true, reportedBy: "0000:03:00.1" },
      { event: "aer-detail", device: "0000:03:00.0", driver: "vfio-pci", severity: "non-fatal", layer: "Transaction Layer", agent: "Requester ID" },
      { event: "aer-status", device: "0000:03:00.0", driver: "vfio-pci", vendorId: "1002", deviceId: "73ef", status: "0x00100000", mask: "0x00000000" },
    ]);
    const ex = explainRecords(importText(BUGZILLA).records);
    expect(ex.map((e) => e.title)).toEqual(["0000:03:00.0 was reset behind VFIO's back", "PCIe uncorrectable error from 0000:03:00.1"]);
    expect(ex[0]!.evidence).toEqual(["0000:03:00.0 has 2 other reset/power/error lines in this log: aer-detail, aer-status."]);
  });

  it("an FLR that never finishes: the pending-transaction warning, the waits, the giving up - with the checks to run", () => {
    const log = [
      "[  663.330053] vfio-pci 0007:00:00.1: timed out waiting for pending transaction; performing function level reset anyway",
      "[  664.730051] vfio-pci 0007:00:00.1: not ready 1023ms after FLR; waiting",
      "[  665.830023] vfio-pci 0007:00:00.1: not ready 2047ms after FLR; waiting",
      "[  727.000000] vfio-pci 0007:00:00.1: not ready 65535ms after FLR; giving up",
    ].join("\n");
    expect(events(log).map((f) => [f.event, f.waitedMs])).toEqual([["flr-pending-timeout", undefined], ["not-ready", 1023], ["not-ready", 2047], ["not-ready-gave-up", 65535]]);
    const ex = explainRecords(importText(log).records);
    const gaveUp = ex.find((e) => e.title === "0007:00:00.1 did not come back after FLR")!;
    expect(gaveUp.meaning).toMatch(/65535 ms/);
    expect(gaveUp.checks[0]).toBe("cat /sys/bus/pci/devices/0007:00:00.1/reset_method (the resets Linux may use); try another: echo bus > /sys/bus/pci/devices/0007:00:00.1/reset_method");
    expect(gaveUp.causes[0]).toMatch(/vendor-reset/);
  });

  it("power states of both kernel generations, and the ROM signature", () => {
    const log = [
      "Dec 10 14:21:38 vm03 kernel: [141155.373612] vfio-pci 0000:02:00.0: Refused to change power state, currently in D3",
      "vfio-pci 0000:02:00.0: Refused to change power state from D0 to D3hot",
      "vfio-pci 0000:02:00.0: Unable to change power state from D3cold to D0, device inaccessible",
      "vfio-pci 0000:02:00.0: can't change power state from D3cold to D0 (config space inaccessible)",
      "[  272.710758] vfio-pci 0000:00:02.0: Invalid PCI ROM header signature: expecting 0xaa55, got 0xa1f9",
    ].join("\n");
    expect(events(log).map((f) => [f.event, f.from, f.to, f.got])).toEqual([
      ["power-refused", "D3", undefined, undefined],
      ["power-refused", "D0", "D3hot", undefined],
      ["power-inaccessible", "D3cold", "D0", undefined],
      ["power-inaccessible", "D3cold", "D0", undefined],
      ["rom-invalid", undefined, undefined, "0xa1f9"],
    ]);
    const titles = explainRecords(importText(log).records).map((e) => e.title);
    expect(titles).toContain("0000:02:00.0 is stuck in D3cold");
    expect(titles).toContain("0000:00:02.0's option ROM cannot be read");
  });

  it("property: decoration and unrelated lines never change which events a log has", () => {
    const lines = BUGZILLA.split("\n");
    const want = events(BUGZILLA);
    const prefix = fc.constantFrom("", "[  12.345678] ", "Nov 25 10:00:00 host kernel: ", "kernel: ");
    fc.assert(
      fc.property(fc.array(fc.tuple(prefix, fc.array(fc.constantFrom("random", "usb 1-1: reset high-speed USB device number 2 using xhci_hcd", "ready", "AER"), { maxLength: 3 })), { minLength: lines.length, maxLength: lines.length }), (decor) => {
        const text = lines.flatMap((l, k) => [...decor[k]![1], decor[k]![0] + l]).join("\n");
        expect(events(text)).toEqual(want);
      }),
      { numRuns: 150 },
    );
  });
});
