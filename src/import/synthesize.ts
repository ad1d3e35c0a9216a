/**
 * A scenario that reproduces the evidence: the host's PCI devices from group listings and fault
 * records (each device behind its own ACS root port, or sharing the groups the listing shows),
 * one VM with the faulting devices assigned behind a vIOMMU with caching mode (so nothing is
 * mapped that the guest did not map), the ftrace map/unmap history replayed as guest-map /
 * guest-unmap steps, and every DMA fault as a `dma` step that expects the fault the log shows.
 * Faults the model reproduces this way: VT-d 0x05/0x06, AMD-Vi IO_PAGE_FAULT and SMMU
 * translation faults (both become VT-d 0x05/0x06 in the Intel model); other records are listed
 * as comments. The text is YAML written by hand so that it reads like the examples.
 */
import type { EvidenceRecord } from "./records.js";

export interface SynthesisResult {
  text: string;
  /** Records turned into steps, by index into the input list. */
  reproduced: number[];
  /** Records the scenario only mentions in comments, with why. */
  notes: string[];
}

interface Dev {
  key: string;
  name?: string;
  cls?: string;
  id?: string;
  group?: number;
  driver: string;
}

const yamlString = (s: string) => JSON.stringify(s);
/** Bridges of a listing are represented by the synthesized root ports. */
const isBridge = (d: Dev) => /bridge/i.test(d.cls ?? "");

export function synthesizeScenario(records: EvidenceRecord[], title = "Reproduced from evidence"): SynthesisResult {
  const devices = new Map<string, Dev>();
  const notes: string[] = [];
  const reproduced: number[] = [];
  const devOf = (key: string): Dev => {
    const k = key.replace(/^0000:/, "");
    let d = devices.get(k);
    if (!d) {
      d = { key: k, driver: "vfio-pci" };
      devices.set(k, d);
    }
    return d;
  };
  for (const r of records) {
    if (r.kind === "iommu-group" || r.kind === "pci-device") {
      const d = devOf(String(r.fields.device));
      if (typeof r.fields.group === "number") d.group = r.fields.group;
      if (r.fields.name) d.name = String(r.fields.name);
      if (r.fields.class) d.cls = String(r.fields.class);
      if (r.fields.vendorId && r.fields.deviceId) d.id = `${r.fields.vendorId}:${r.fields.deviceId}`;
      if (r.fields.driver) d.driver = String(r.fields.driver);
    }
  }
  // The VM from a libvirt domain or a QEMU command line, when one was imported.
  let vmName = "vm0";
  let vmMemory = 1n << 30n;
  for (const r of records) {
    if (r.kind !== "vm-config") continue;
    if (typeof r.fields.name === "string" && /^[\w.-]+$/.test(r.fields.name)) vmName = r.fields.name;
    if (typeof r.fields.memory === "string") {
      const m = BigInt(r.fields.memory);
      // Large guests are capped: the faults do not depend on the RAM size, the run time does.
      vmMemory = m > 4n << 30n ? 4n << 30n : m < 256n << 20n ? 256n << 20n : m;
    }
    if (typeof r.fields.hostdev === "string" && r.fields.hostdev) devOf(r.fields.hostdev).driver = "vfio-pci";
  }
  const steps: string[] = [];
  const faults: { i: number; dev: string; iova: bigint; write: boolean; reason: number }[] = [];
  records.forEach((r, i) => {
    const f = r.fields;
    if (r.kind === "dmar-fault" && (f.reason === 5 || f.reason === 6) && typeof f.address === "string") {
      faults.push({ i, dev: String(f.device), iova: BigInt(f.address), write: f.write === true, reason: f.reason });
    } else if (r.kind === "amdvi-event" && f.event === "IO_PAGE_FAULT" && f.device && typeof f.address === "string" && !f.interrupt) {
      faults.push({ i, dev: String(f.device), iova: BigInt(f.address), write: f.write === true, reason: f.write ? 5 : 6 });
    } else if (r.kind === "smmuv3-event" && f.event === "F_TRANSLATION" && typeof f.iova === "string" && typeof f.client === "string" && /^[0-9a-f]{4}:/.test(f.client)) {
      faults.push({ i, dev: f.client.replace(/^0000:/, ""), iova: BigInt(f.iova), write: f.write === true, reason: f.write ? 5 : 6 });
    } else if (r.kind === "dmar-fault" || r.kind === "intr-remap-fault" || r.kind === "amdvi-event" || r.kind === "smmuv3-event" || r.kind === "smmuv2-fault") {
      notes.push(`line ${r.line + 1}: ${r.summary} (not reproduced: the model reproduces missing and read-only translations)`);
    }
  });
  for (const f of faults) devOf(f.dev);
  // The trace's map/unmap history, replayed in order for the first faulting device.
  const traced = records.find((r) => r.kind === "ftrace" && typeof r.fields.device === "string")?.fields.device;
  const target = typeof traced === "string" ? devOf(traced).key : faults[0]?.dev ?? [...devices.keys()][0];
  const history = records.filter((r) => r.kind === "ftrace" && (r.fields.event === "map" || r.fields.event === "unmap"));
  if (devices.size === 0) {
    return { text: `# ${title}\n# The evidence has no device to build a scenario around.\n`, reproduced, notes: ["no device found in the evidence"] };
  }
  const ram = vmMemory;
  let gpa = 0x1000_0000n;
  for (const h of history) {
    const iova = BigInt(String(h.fields.iova));
    const size = BigInt(Number(h.fields.size ?? 0)) || BigInt(String(h.fields.end)) - iova;
    const pages = (size + 0xfffn) & ~0xfffn;
    if (h.fields.event === "map") {
      steps.push(`  # trace line ${h.line + 1}: ${h.summary}`);
      steps.push(`  - guest-map: { vm: ${vmName}, device: ${yamlString(target!)}, iova: 0x${iova.toString(16)}, size: ${pages}, perm: rw, gpa: 0x${gpa.toString(16)} }`);
      gpa += pages;
      if (gpa >= ram) gpa = 0x1000_0000n;
    } else {
      steps.push(`  # trace line ${h.line + 1}: ${h.summary}`);
      steps.push(`  - guest-unmap: { vm: ${vmName}, device: ${yamlString(target!)}, iova: 0x${iova.toString(16)}, size: ${pages} }`);
    }
  }
  for (const f of faults) {
    const r = records[f.i]!;
    steps.push(`  # log line ${r.line + 1}: ${r.summary}`);
    steps.push(`  - dma: { device: ${yamlString(f.dev)}, iova: 0x${f.iova.toString(16)}, length: 4KiB, write: ${f.write} }`);
    steps.push(`    expect: { fault: 0x${f.reason.toString(16).padStart(2, "0")} }`);
    reproduced.push(f.i);
  }
  // Topology: devices on bus 0 are integrated; every other bus gets a root port with ACS (so
  // the devices keep groups of their own, as after the ACS override or on a server board).
  // Bridges from a listing are represented by these ports.
  const byBus = new Map<string, Dev[]>();
  for (const d of devices.values()) {
    if (isBridge(d)) continue;
    const bus = d.key.slice(-7, -5);
    const list = byBus.get(bus) ?? [];
    list.push(d);
    byBus.set(bus, list);
  }
  const used = new Set([...devices.keys()].filter((k) => k.startsWith("00:")).map((k) => k.slice(3, 5)));
  let slot = 0x1c;
  const pci: string[] = [];
  for (const [bus, list] of [...byBus].sort()) {
    let parent = "";
    if (bus !== "00") {
      while (used.has(slot.toString(16).padStart(2, "0")) && slot < 0x1f) slot++;
      const pbdf = `00:${(slot++).toString(16).padStart(2, "0")}.0`;
      pci.push(`    - { bdf: "${pbdf}", kind: root-port, acs: true, secondary-bus: ${parseInt(bus, 16)} }`);
      parent = pbdf;
    }
    for (const d of list) {
      const attrs = [`bdf: "${d.key}"`];
      if (!parent) attrs.push("kind: integrated");
      if (d.id) attrs.push(`id: "${d.id}"`);
      if (d.name) attrs.push(`name: ${yamlString(d.name.slice(0, 80))}`);
      if (parent) attrs.push(`parent: "${parent}"`);
      attrs.push(`driver: ${d.driver}`);
      pci.push(`    - { ${attrs.join(", ")} }`);
    }
  }
  const assigned = [...devices.values()].filter((d) => d.driver === "vfio-pci" && !isBridge(d)).map((d) => yamlString(d.key));
  const text = [
    `# ${title}`,
    "# Generated by Passthrough Debugger from imported evidence. The VM has a vIOMMU with caching",
    "# mode, so only what the trace maps is mapped; each logged DMA fault is a step expecting it.",
    ...notes.map((n) => `# Not reproduced: ${n}`),
    `name: ${yamlString(title)}`,
    "host:",
    "  memory: 64GiB",
    "  iommu: { model: intel-vtd, address-width: 48 }",
    "  pci:",
    ...pci,
    "vms:",
    `  - name: ${vmName}`,
    `    memory: ${vmMemory / (1n << 20n)}MiB`,
    `    devices: [${assigned.join(", ")}]`,
    "    viommu: { model: intel, caching-mode: true }",
    "workload:",
    `  - start: ${vmName}`,
    ...steps,
    "",
  ].join("\n");
  return { text, reproduced, notes };
}
