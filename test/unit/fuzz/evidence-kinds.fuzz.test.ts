// Fuzzing the evidence kinds added after the first hardening suite (issue 19): boot state, device
// reset/power/AER events, QEMU's intel-iommu (vtd_*) reports, the Intel IOMMU debugfs dumps and
// QEMU's/libvirt's vfio errors. Real lines of each kind (the samples their unit tests cite, and
// the fixtures qemu-viommu.txt and debugfs-kabylake.txt) mutated by edits from their grammars:
// never an exception; every line is a record's, a record's context or skipped with a reason; the
// explanations point at records; a host-tables scenario from a mutated debugfs dump reads without
// a syntax error and runs (bounded: a few hundred runs, each a handful of steps).
import fc from "fast-check";
import { describe, it } from "vitest";
import { decodeEvidenceText, type DecodedEvidence } from "../../../src/import/decode.js";
import { explainRecords, synthesizeScenario } from "../../../src/import/index.js";
import { hasHostTables } from "../../../src/import/hostTables.js";
import { parseScenario } from "../../../src/scenario/index.js";
import { runScenario } from "../../../src/sim/run.js";
import { EVIDENCE, applyEdits, caseArb, runs, seed } from "./mutate.js";

const fixture = (name: string) => EVIDENCE.find((e) => e.name === name)!.text;

const BOOT = [
  "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz intel_iommu=on iommu=pt",
  "[    0.012345] DMAR: IOMMU enabled",
  "[    0.101010] DMAR-IR: Enabled IRQ remapping in x2apic mode",
  "[    0.350000] iommu: Default domain type: Passthrough (set via kernel command line)",
  "[    0.400000] AMD-Vi: Interrupt remapping enabled",
].join("\n");
const DEVICE_EVENTS = [
  "vfio-pci 0000:03:00.0: vfio_bar_restore: reset recovery - restoring BARs",
  "pcieport 0000:00:01.1: AER: Multiple Uncorrectable (Non-Fatal) error message received from 0000:03:00.1",
  "[  727.0] vfio-pci 0007:00:00.1: not ready 65535ms after FLR; giving up",
].join("\n");
const VFIO_ERRORS = [
  "qemu-system-x86_64: vfio: Cannot reset device 0000:01:00.1, depends on group 1 which is not owned.",
  "vfio: Cannot reset device 0000:00:1b.0, no available reset mechanism.",
  "error: Requested operation is not valid: PCI device 0000:01:00.0 is in use by driver QEMU, domain win10",
  "cannot limit locked memory of process 111 to 9007199254740991: Operation not permitted",
  "error: unsupported configuration: host doesn't support VFIO PCI passthrough",
  "error: internal error: Unable to reset PCI device 0000:00:1f.3: internal error: Active 0000:00:1f.0 devices on bus with 0000:00:1f.3, not doing bus reset",
  "error: Failed to add driver 'vfio-pci' to driver_override interface of PCI device '0000:01:00.0': Device or resource busy",
  "qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: vfio 0000:01:00.0: failed to setup container for group 1: Failed to set iommu for container: Operation not permitted",
].join("\n");
const CORPUS = [BOOT, DEVICE_EVENTS, VFIO_ERRORS, fixture("qemu-viommu.txt"), fixture("debugfs-kabylake.txt")];

/** Tokens of these kinds' grammars. */
const TOKENS = [
  "\n", "\r\n", " ", "\t", "\t\t", ":", ".", "|", "-1", "0x", "0x0000000000000000", "0x00000001017f9003", "0xffffffffffffffff", "@0x", "Device 0000:00:02.0 @0x1017f8000",
  "IOMMU dmar0: Root Table Address: 0x103027000", "B.D.F\tRoot_entry\t\t\t\tContext_entry", "IOVA_PFN", "PML5E", "RTADDR          \t0x20\t\t", "CAP             \t0x08\t\t",
  "00:02.0\t", "ff:1f.7\t", "0x00000000fee00 |\t", "with pasid 1 ", "DMA Remapping is not enabled on dmar1", "Register Base Address: ",
  "DMAR: ", "DMAR-IR: ", "iommu: ", "intel_iommu=off", "Passthrough", "FLR", "D3cold", "AER: ", "vfio-pci 0000:01:00.0: ", "qemu-system-x86_64: ",
  "vtd_iova_to_slpte: ", "vfio: ", "Cannot reset device ", "is in use by driver ", ", domain ", "group 1", "error: ", "internal error: ", "libvirtd[1]: ",
  "Operation not permitted", "(Cannot allocate memory)", "\u0000", "\ufeff", "é", "😀", "\u001b[31m", "9".repeat(30), "f".repeat(17),
] as const;

function check(text: string, d: DecodedEvidence): void {
  const lines = text.split("\n");
  const covered = new Uint8Array(Math.max(lines.length, d.lines));
  for (const r of d.records) {
    if (!(r.line >= 0 && r.line <= r.endLine && r.endLine < covered.length)) throw new Error(`record ${r.kind} at lines ${r.line}-${r.endLine} of ${covered.length}`);
    for (let l = r.line; l <= r.endLine; l++) covered[l] = 1;
    for (const c of r.context) covered[c.line] = 1;
  }
  for (const s of d.skipped) {
    if (!s.reason) throw new Error("a skipped run without a reason");
    for (let l = s.line; l <= s.endLine; l++) covered[l] = 1;
  }
  // Every line with text is a record's, a record's context, or skipped with a reason.
  lines.forEach((l, k) => {
    if (l.trim() !== "" && !covered[k]) throw new Error(`line ${k + 1} ${JSON.stringify(l.slice(0, 120))} is neither a record nor skipped`);
  });
  for (const e of explainRecords(d.records)) if (!(e.record >= 0 && e.record < d.records.length) || !e.title) throw new Error(`explanation ${JSON.stringify(e).slice(0, 200)}`);
}

describe("fuzz: the newer evidence kinds", () => {
  it("mutated real lines of each kind: no exception, every line accounted for, explanations point at records", () => {
    fc.assert(
      fc.property(caseArb.map((c) => applyEdits(CORPUS, TOKENS, c)), (text) => {
        check(text, decodeEvidenceText(text));
      }),
      { numRuns: runs(3_000), ...seed(19_041) },
    );
  });

  it("a mutated debugfs dump gives a host-tables scenario that reads and runs", () => {
    const dumps = [fixture("debugfs-kabylake.txt")];
    fc.assert(
      fc.property(caseArb.map((c) => applyEdits(dumps, TOKENS, c)), (text) => {
        const d = decodeEvidenceText(text);
        if (!hasHostTables(d.records)) return;
        const s = synthesizeScenario(d.records);
        const p = parseScenario(s.text, "host.passthrough.yaml");
        const errors = p.diagnostics.filter((x) => x.severity === "error");
        if (errors.length || !p.scenario) throw new Error(`host-tables scenario invalid: ${errors.map((e) => `${e.code} ${e.message}`).join("; ")}\n${s.text.slice(0, 3000)}`);
        const r = runScenario(p.scenario);
        if (r.error !== undefined) throw new Error(`host-tables scenario does not run: ${r.error}`);
      }),
      { numRuns: runs(150), ...seed(19_042) },
    );
  });
});
