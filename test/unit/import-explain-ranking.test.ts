/**
 * A fault's causes ranked by the other evidence of the same import or the user's other imports
 * (import/explain.ts rankFromConfig, then the trace): the device's driver from lspci, whether a VM
 * assigns it, the VM's vIOMMU options, and an unmap in the trace before the fault. The same fault
 * line gets a different first cause as the evidence around it changes.
 * The fault is the 5.15+ DMAR format (reference §3); the trace lines are the TP_printk formats of
 * include/trace/events/iommu.h as in test/fixtures/evidence/iommu-trace.txt; the lspci and libvirt
 * lines are those formats (lspci -nnk, libvirt domain XML).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/cli.js";
import { decodeEvidenceText } from "../../src/import/decode.js";
import { explainRecords, rankingContext } from "../../src/import/explain.js";

const FAULT = "[  812.002010] DMAR: [DMA Write NO_PASID] Request device [03:00.1] fault addr 0x7c346000 [fault reason 0x05] PTE Write access is not set";
const records = (text: string) => decodeEvidenceText(text).records;
const fault = records(`${FAULT}\n`);
const lspci = (driver: string) => records(`03:00.0 Ethernet controller [0200]: Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection [8086:10fb] (rev 01)\n\tKernel driver in use: ixgbe\n03:00.1 Ethernet controller [0200]: Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection [8086:10fb] (rev 01)\n\tKernel driver in use: ${driver}\n`);
const domain = (iommu: string) => records(`<domain type='kvm'><name>vm1</name><memory unit='GiB'>4</memory><devices><hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/></source></hostdev>${iommu}</devices></domain>\n`);
const trace = records(
  [
    "# tracer: nop",
    " qemu-system-x86-4242    [003] .....   811.000000: map: IOMMU: iova=0x000000007c340000 - 0x000000007c350000 paddr=0x0000000123450000 size=65536",
    " qemu-system-x86-4242    [001] .....   811.999000: unmap: IOMMU: iova=0x000000007c340000 - 0x000000007c350000 size=65536 unmapped_size=65536",
  ].join("\n"),
);

function explain(context: ReturnType<typeof records> = [], history: ReturnType<typeof records> = []) {
  const e = explainRecords(fault, history, context);
  expect(e).toHaveLength(1);
  return e[0]!;
}

describe("ranking a fault's causes from the other evidence", () => {
  it("alone: an IOVA never mapped comes first, the vIOMMU is one of the causes", () => {
    const e = explain();
    expect(e.causes[0]).toMatch(/^IOVA 0x7c346000 was never mapped/);
    expect(e.causes.some((c) => c.startsWith("A vIOMMU without caching mode"))).toBe(true);
  });

  it("lspci shows the device on a host driver: the host driver's own DMA comes first and the vIOMMU is out", () => {
    const e = explain(lspci("ixgbe"));
    expect(e.causes[0]).toMatch(/^The host driver ixgbe does this DMA/);
    expect(e.causes.some((c) => c.startsWith("A vIOMMU"))).toBe(false);
    expect(e.evidence.join(" ")).toContain("03:00.1 is bound to ixgbe");
  });

  it("bound to vfio-pci, and the VM's intel-iommu has caching mode off: the vIOMMU comes first", () => {
    const e = explain([...lspci("vfio-pci"), ...domain("<iommu model='intel'><driver intremap='on'/></iommu>")]);
    expect(e.causes[0]).toMatch(/^A vIOMMU without caching mode/);
    expect(e.evidence.join(" ")).toContain("caching mode off");
  });

  it("caching mode on: the vIOMMU goes last; no vIOMMU at all: it is not a cause", () => {
    const on = explain(domain("<iommu model='intel'><driver caching_mode='on'/></iommu>"));
    expect(on.causes[on.causes.length - 1]).toMatch(/^A vIOMMU without caching mode/);
    const none = explain(domain(""));
    expect(none.causes.some((c) => c.startsWith("A vIOMMU"))).toBe(false);
    expect(none.evidence.join(" ")).toContain("no vIOMMU");
  });

  it("the trace's unmap before the fault outranks the configuration: DMA after unmap comes first", () => {
    const e = explain(domain("<iommu model='intel'><driver intremap='on'/></iommu>"), trace);
    expect(e.causes[0]).toMatch(/^DMA after unmap/);
    expect(e.evidence.join(" ")).toContain("was unmapped at line 3 of the trace");
  });
});

describe("the CLI's explain FILE... ranks with every file's evidence, as the extension does", () => {
  async function cliExplain(files: Record<string, string>, ...extra: string[]): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), "pt-explain-"));
    const paths = Object.entries(files).map(([name, text]) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    });
    let out = "";
    const code = await runCli(["explain", ...extra, ...paths], { out: (t) => void (out += t), err: () => undefined });
    expect(code).toBe(0);
    return out;
  }
  const lspciText = (driver: string) => `03:00.1 Ethernet controller [0200]: Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection [8086:10fb] (rev 01)\n\tKernel driver in use: ${driver}\n`;

  it("a fault log and an lspci paste given together: the host driver's DMA comes first, as in explainRecords with the other import as context", async () => {
    const out = await cliExplain({ "dmesg.log": `${FAULT}\n`, "lspci.txt": lspciText("ixgbe") });
    const causes = /Likely causes, most likely first:\n\s+1\. (.*)/.exec(out)?.[1];
    expect(causes).toMatch(/^The host driver ixgbe does this DMA/);
    expect(out).toContain("03:00.1 is bound to ixgbe");
    // The same first cause as the extension's (explainRecords with the other import's records as context).
    const ext = explainRecords(fault, [], rankingContext([records(lspciText("ixgbe"))]))[0]!;
    expect(causes).toBe(ext.causes[0]);
  });

  it("the order of the files does not matter, and the fault log alone keeps its own ranking", async () => {
    const both = await cliExplain({ "a-lspci.txt": lspciText("ixgbe"), "b-dmesg.log": `${FAULT}\n` });
    expect(/1\. (.*)/.exec(both)?.[1]).toMatch(/^The host driver ixgbe/);
    const alone = await cliExplain({ "dmesg.log": `${FAULT}\n` });
    expect(/1\. (.*)/.exec(alone)?.[1]).toMatch(/^IOVA 0x7c346000 was never mapped/);
  });

  it("--json: the VM's XML in another file puts the vIOMMU without caching mode first", async () => {
    const xml = `<domain type='kvm'><name>vm1</name><memory unit='GiB'>4</memory><devices><hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/></source></hostdev><iommu model='intel'><driver intremap='on'/></iommu></devices></domain>\n`;
    const out = await cliExplain({ "dmesg.log": `${FAULT}\n`, "vm.xml": xml }, "--json");
    const docs = out.trim().split(/\n(?=\{)/).map((x) => JSON.parse(x) as { file: string; explanations: { causes: string[] }[] });
    const log = docs.find((d) => d.file.endsWith("dmesg.log"))!;
    expect(log.explanations[0]!.causes[0]).toMatch(/^A vIOMMU without caching mode/);
  });
});
