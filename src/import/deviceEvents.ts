/**
 * Device reset, power, error and ROM lines: what people paste when an assigned device will not
 * come back after a VM stops (the "reset bug"), drops off the bus, or shows a black screen. Each
 * line becomes a `device-event` record for its device. The format strings, with the source that
 * prints each (a `pci_*()` line starts with the driver and the device: `vfio-pci 0000:03:00.0: `):
 * - drivers/pci/pci.c pci_dev_wait: `not ready %dms after %s; waiting`, `not ready %dms after %s;
 *   giving up`, `ready %dms after %s` (%s: FLR, bus reset, PM D3hot->D0, resume, ...);
 *   pcie_flr: `timed out waiting for pending transaction; performing function level reset anyway`;
 *   pci_power_up / pci_set_low_power_state: `Unable to change power state from %s to %s, device
 *   inaccessible` (older: `can't change power state from %s to %s (config space inaccessible)`),
 *   `Refused to change power state from %s to %s` (older: `Refused to change power state,
 *   currently in D%d`);
 * - drivers/vfio/pci/vfio_pci_config.c vfio_bar_restore: `%s: reset recovery - restoring BARs`
 *   (older: `vfio_bar_restore: %s reset recovery - restoring bars`, no device prefix);
 * - drivers/pci/rom.c pci_get_rom_size: `Invalid PCI ROM header signature: expecting 0xaa55, got %#06x`;
 * - drivers/pci/pcie/aer.c (pr_fmt "AER: "): `%s%s error message received from %s` (Multiple,
 *   Correctable / Uncorrectable (Non-Fatal) / Uncorrectable (Fatal)), older `%s error received: %s`
 *   (Corrected / Uncorrected (Non-Fatal) / Uncorrected (Fatal)), and the detail lines `PCIe Bus
 *   Error: severity=%s, type=%s, (%s)`, `  device [%04x:%04x] error status/mask=%08x/%08x`.
 * - vendor-reset (github.com/gnif/vendor-reset): `vendor-reset-hook: enabled for %04x:%04x`.
 */
import { messageOf } from "./lines.js";
import type { EvidenceRecord } from "./records.js";

const DEV = /^([\w.-]+) ((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): (.*)$/;

interface Rule {
  re: RegExp;
  event: string;
  fields: (m: RegExpExecArray) => EvidenceRecord["fields"];
  summary: (m: RegExpExecArray, device: string) => string;
}

const RULES: Rule[] = [
  { re: /^not ready (\d+)ms after (.+); giving up$/, event: "not-ready-gave-up", fields: (m) => ({ waitedMs: Number(m[1]), after: m[2]! }), summary: (m, d) => `${d} never came back after ${m[2]} (gave up after ${m[1]} ms)` },
  { re: /^not ready (\d+)ms after (.+); waiting$/, event: "not-ready", fields: (m) => ({ waitedMs: Number(m[1]), after: m[2]! }), summary: (m, d) => `${d} not ready ${m[1]} ms after ${m[2]}, still waiting` },
  { re: /^ready (\d+)ms after (.+)$/, event: "ready", fields: (m) => ({ waitedMs: Number(m[1]), after: m[2]! }), summary: (m, d) => `${d} ready ${m[1]} ms after ${m[2]}` },
  { re: /^timed out waiting for pending transaction; performing function level reset anyway$/, event: "flr-pending-timeout", fields: () => ({}), summary: (_m, d) => `${d} still had DMA in flight when its FLR started` },
  { re: /^Unable to change power state from (D\w+) to (D\w+), device inaccessible$|^can't change power state from (D\w+) to (D\w+) \(config space inaccessible\)$/, event: "power-inaccessible", fields: (m) => ({ from: (m[1] ?? m[3])!, to: (m[2] ?? m[4])! }), summary: (m, d) => `${d} did not answer going from ${m[1] ?? m[3]} to ${m[2] ?? m[4]}: config space inaccessible` },
  { re: /^Unable to change power state to D0, device inaccessible$/, event: "power-inaccessible", fields: () => ({ to: "D0" }), summary: (_m, d) => `${d} did not answer going to D0: device inaccessible` },
  { re: /^Refused to change power state from (D\w+) to (D\w+)$/, event: "power-refused", fields: (m) => ({ from: m[1]!, to: m[2]! }), summary: (m, d) => `${d} refused to go from ${m[1]} to ${m[2]}` },
  { re: /^Refused to change power state, currently in (D\d)$/, event: "power-refused", fields: (m) => ({ from: m[1]! }), summary: (m, d) => `${d} refused a power-state change, stuck in ${m[1]}` },
  { re: /^vfio_bar_restore: reset recovery - restoring BARs$/, event: "bar-restore", fields: () => ({}), summary: (_m, d) => `${d} lost its BARs (a reset VFIO did not do) and VFIO restored them` },
  { re: /^Invalid PCI ROM header signature: expecting 0xaa55, got (0x[0-9a-f]+)$/, event: "rom-invalid", fields: (m) => ({ got: m[1]! }), summary: (m, d) => `${d} option ROM unreadable (signature ${m[1]}, expected 0xaa55)` },
  { re: /^AER: (Multiple )?(Corrected|Correctable|Uncorrected \((?:Non-Fatal|Fatal)\)|Uncorrectable \((?:Non-Fatal|Fatal)\)) error (?:message )?received(?: from|:) ((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/, event: "aer", fields: (m) => ({ severity: aerSeverity(m[2]!), multiple: m[1] !== undefined, reportedBy: m[3]! }), summary: (m) => `PCIe ${m[2]!.toLowerCase()} error reported by ${m[3]}` },
  { re: /^(?:AER: )?PCIe Bus Error: severity=([^,]+), type=([^,]+), \(([^)]+)\)$/, event: "aer-detail", fields: (m) => ({ severity: aerSeverity(m[1]!), layer: m[2]!, agent: m[3]! }), summary: (m, d) => `${d}: PCIe ${m[1]!.toLowerCase()} error, ${m[2]!.toLowerCase()} (${m[3]})` },
  { re: /^(?:AER: )?\s*device \[([0-9a-f]{4}):([0-9a-f]{4})\] error status\/mask=([0-9a-f]{8})\/([0-9a-f]{8})$/, event: "aer-status", fields: (m) => ({ vendorId: m[1]!, deviceId: m[2]!, status: `0x${m[3]}`, mask: `0x${m[4]}` }), summary: (m, d) => `${d} [${m[1]}:${m[2]}] AER status 0x${m[3]}` },
];

/** One spelling of the three AER severities whatever the kernel generation. */
function aerSeverity(text: string): string {
  return /^Correct/.test(text) ? "corrected" : /Fatal\)$/.test(text) && !/Non-Fatal/.test(text) ? "fatal" : "non-fatal";
}

/** Device-event records of a log's lines. */
export function parseDeviceEvents(lines: readonly string[]): EvidenceRecord[] {
  const out: EvidenceRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    // Cheap filter first: every rule's line carries one of these words.
    if (!/ready|power state|restoring|ROM header|AER|Bus Error|status\/mask|pending transaction/.test(raw)) continue;
    const msg = messageOf(raw);
    let text = msg.text.replace(/\s+$/, "");
    let device = "";
    let driver = "";
    const d = DEV.exec(text);
    if (d) {
      driver = d[1]!;
      device = d[2]!.length === 7 ? `0000:${d[2]}` : d[2]!;
      text = d[3]!;
    } else {
      // vfio_bar_restore before 5.x: "vfio_bar_restore: 0000:03:00.0 reset recovery - restoring bars".
      const old = /^vfio_bar_restore: ((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) reset recovery - restoring bars$/.exec(text);
      if (old) {
        device = old[1]!;
        driver = "vfio-pci";
        text = "vfio_bar_restore: reset recovery - restoring BARs";
      }
    }
    for (const rule of RULES) {
      const m = rule.re.exec(text);
      if (!m) continue;
      const who = device || "the device";
      out.push({
        kind: "device-event",
        line: i,
        endLine: i,
        column: msg.column,
        text: raw,
        ...(msg.timestamp ? { timestamp: msg.timestamp } : {}),
        summary: rule.summary(m, who),
        fields: { event: rule.event, ...(device ? { device } : {}), ...(driver ? { driver } : {}), ...rule.fields(m) },
        context: [],
      });
      break;
    }
  }
  return out;
}

export interface DeviceEventExplanation {
  title: string;
  meaning: string;
  causes: string[];
  checks: string[];
}

const RESET_CAUSES = [
  "The device does not reset cleanly by FLR or a bus reset: many GPUs, above all AMD Polaris/Vega/Navi 1x (the \"AMD reset bug\"), need a device-specific reset (the vendor-reset module) or a host reboot.",
  "The device was still busy (DMA in flight, or a hung firmware) when the reset started, because the guest driver did not shut it down.",
  "The link to the device failed (see the AER lines of its upstream port).",
];

/** What one device event means for passthrough, the likely causes and the checks; undefined for events that are only context. */
export function explainDeviceEvent(f: EvidenceRecord["fields"]): DeviceEventExplanation | undefined {
  const dev = typeof f.device === "string" ? f.device : "the device";
  const sys = typeof f.device === "string" ? `/sys/bus/pci/devices/${f.device}` : "/sys/bus/pci/devices/<BDF>";
  switch (f.event) {
    case "not-ready-gave-up":
      return {
        title: `${dev} did not come back after ${f.after}`,
        meaning: `After the ${f.after}, ${dev} answered config reads with all ones for ${f.waitedMs} ms and Linux gave up: the device is unusable (VM start fails, or the guest sees a dead device) until it is reset some other way or the host is power-cycled.`,
        causes: RESET_CAUSES,
        checks: [`cat ${sys}/reset_method (the resets Linux may use); try another: echo bus > ${sys}/reset_method`, `lspci -vvs ${dev.replace(/^0000:/, "")}: a device that is gone reads as "(rev ff)" with no capabilities.`, "For an AMD GPU: load the vendor-reset module (it logs \"vendor-reset-hook: enabled for 1002:...\") and set its reset_method to device_specific."],
      };
    case "flr-pending-timeout":
      return {
        title: `${dev} was reset with DMA still pending`,
        meaning: `Before a function level reset Linux waits for ${dev}'s outstanding transactions (the Transactions Pending bit); they did not finish, so the reset went ahead anyway. The device may not come back cleanly.`,
        causes: [RESET_CAUSES[1]!, RESET_CAUSES[0]!],
        checks: ["Shut the guest down cleanly (so its driver stops the device) before the VM's devices are reset.", `Watch for "not ready ...ms after FLR" lines for ${dev} right after this one.`],
      };
    case "power-inaccessible":
    case "power-refused":
      return {
        title: `${dev} is stuck in ${f.from ?? "a low-power state"}`,
        meaning: `${dev} did not ${f.event === "power-refused" ? "accept" : "answer during"} a power-state change${f.to ? ` to ${f.to}` : ""}: its config space reads as all ones, as for a device in D3cold or one that fell off the bus.`,
        causes: ["Runtime power management put the idle device in D3cold, and it does not wake from it (common with GPUs bound to vfio-pci).", RESET_CAUSES[0]!],
        checks: [`echo 0 > ${sys}/d3cold_allowed (keep it out of D3cold), or boot with vfio-pci.disable_idle_d3=1.`, `cat ${sys}/power_state`],
      };
    case "bar-restore":
      return {
        title: `${dev} was reset behind VFIO's back`,
        meaning: `VFIO found ${dev}'s BARs cleared (the device reset itself, or a guest driver reset it by a device-specific method VFIO did not see) and wrote them back. Repeated at every VM start it is the signature of a device that does not reset cleanly.`,
        causes: [RESET_CAUSES[0]!, "The guest driver resets the GPU itself (normal once; a problem when the device does not come back)."],
        checks: [`Look for "not ready ...ms after FLR" and "Invalid PCI ROM header" lines for ${dev}.`],
      };
    case "rom-invalid":
      return {
        title: `${dev}'s option ROM cannot be read`,
        meaning: `Reading ${dev}'s expansion ROM gave ${f.got} instead of the 0xaa55 signature: the ROM BAR is not readable (the host firmware or driver already ran the GPU's ROM and it is shadowed, or the device was not reset). The guest firmware then cannot run the card's UEFI/VGA ROM: a black screen until the guest driver loads.`,
        causes: ["The GPU is the host's boot GPU (its ROM was shadowed at boot).", RESET_CAUSES[0]!],
        checks: ["Dump the card's ROM on a host where it is a secondary GPU (echo 1 > rom; cat rom) or use the vendor's image, and pass it: QEMU romfile=/path.rom, libvirt <rom file='/path.rom'/>.", "If the guest needs no ROM: rombar=0 (libvirt <rom bar='off'/>)."],
      };
    case "aer":
      return f.severity === "corrected"
        ? undefined
        : {
            title: `PCIe ${f.severity === "fatal" ? "fatal" : "uncorrectable"} error from ${f.reportedBy}`,
            meaning: `${f.reportedBy} reported an ${f.severity === "fatal" ? "uncorrectable fatal error: the link is reset and the device's driver must recover" : "uncorrectable error: a transaction was lost or malformed"}; the detail lines after this one name the layer and the status bits.`,
            causes: ["The device (or its link) is failing, often right after a reset that did not work.", "A marginal link: riser cables, PCIe generation set too high in the firmware."],
            checks: ["Read the PCIe Bus Error and status/mask lines that follow; lspci -vvv shows UESta/CESta of the device and its port.", "Try a lower PCIe link speed in the firmware setup."],
          };
    default:
      return undefined;
  }
}
