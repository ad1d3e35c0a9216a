/**
 * The boot state of the IOMMU, from the lines a kernel prints while it sets the IOMMU up, and the
 * one answer they add up to: is DMA translation on, in which mode, is interrupt remapping on, and
 * what in this boot blocks VFIO passthrough.
 *
 * The lines, with the source that prints each (pr_fmt prefixes in brackets):
 * - `Command line: ...` (arch/x86/kernel/setup.c) and `Kernel command line: ...` (init/main.c);
 * - [DMAR: ] `IOMMU enabled` / `IOMMU disabled` / `Disable GFX device mapping` /
 *   `Enable scalable mode if hardware supports` (drivers/iommu/intel/iommu.c intel_iommu_setup),
 *   `Intel(R) Virtualization Technology for Directed I/O` (intel_iommu_init, once translation is
 *   set up), `Host address width %d` (dmar.c parse_dmar_table);
 * - [DMAR-IR: ] `Enabled IRQ remapping in %s mode` with x2apic/xapic (intel/irq_remapping.c);
 * - [AMD-Vi: ] `Interrupt remapping enabled`, `X2APIC enabled`, `Found IOMMU at %04x:%02x:%02x.%d
 *   cap 0x%x` (drivers/iommu/amd/init.c);
 * - [iommu: ] `Default domain type: %s%s` with Passthrough/Translated/Unmanaged/Blocked/Platform
 *   and ` (set via kernel command line)`, `DMA domain TLB invalidation policy: %s mode%s`
 *   (drivers/iommu/iommu.c iommu_subsys_init, iommu_domain_type_str);
 * - [PCI-DMA: ] `Using software bounce buffering for IO (SWIOTLB)` (no IOMMU translating on x86);
 * - [DMAR: ] `DRHD base: %#016Lx flags: %#x` and `dmar%d: reg_base_addr %llx ver %d:%d cap %llx ecap %llx`
 *   (dmar.c), and `/sys/class/iommu/<unit>/devices/<device>` paths: the units of a host with several
 *   (synthesize.ts makes a host.iommus scenario of them, docs/multi-unit.md).
 */
import { messageOf } from "./lines.js";
import type { EvidenceRecord } from "./records.js";

/** Kernel parameters that decide the IOMMU's state (Documentation/admin-guide/kernel-parameters.txt). */
const IOMMU_PARAMS = /^(?:intel_iommu|amd_iommu|iommu|iommu\.passthrough|iommu\.strict|pcie_acs_override|vfio-pci\.ids|vfio_iommu_type1\.allow_unsafe_interrupts|intremap|amd_iommu_intr|kvm\.ignore_msrs|video|initcall_blacklist)=/;

interface Rule {
  re: RegExp;
  fact: (m: RegExpExecArray) => EvidenceRecord["fields"];
  summary: (m: RegExpExecArray) => string;
}

const RULES: Rule[] = [
  { re: /^(?:Kernel )?[Cc]ommand line: (.*)$/, fact: (m) => ({ fact: "cmdline", params: m[1]!.split(/\s+/).filter((p) => IOMMU_PARAMS.test(p)).join(" ") }), summary: (m) => `kernel command line${m[1]!.split(/\s+/).some((p) => IOMMU_PARAMS.test(p)) ? `: ${m[1]!.split(/\s+/).filter((p) => IOMMU_PARAMS.test(p)).join(" ")}` : " (no IOMMU parameters)"}` },
  { re: /^DMAR: IOMMU enabled$/, fact: () => ({ fact: "vtd-on", vendor: "intel" }), summary: () => "intel_iommu=on: VT-d DMA remapping requested" },
  { re: /^DMAR: IOMMU disabled$/, fact: () => ({ fact: "vtd-off", vendor: "intel" }), summary: () => "intel_iommu=off: VT-d DMA remapping disabled" },
  { re: /^DMAR: Disable GFX device mapping$/, fact: () => ({ fact: "igfx-off", vendor: "intel" }), summary: () => "intel_iommu=igfx_off: the integrated GPU is not translated" },
  { re: /^DMAR: (?:Enable scalable mode if hardware supports|Intel-IOMMU: scalable mode supported)$/, fact: () => ({ fact: "sm-on", vendor: "intel" }), summary: () => "intel_iommu=sm_on: scalable mode requested" },
  { re: /^DMAR: Intel\(R\) Virtualization Technology for Directed I\/O$/, fact: () => ({ fact: "vtd-initialized", vendor: "intel" }), summary: () => "VT-d initialized: DMA remapping is set up" },
  { re: /^DMAR: Host address width (\d+)$/, fact: (m) => ({ fact: "haw", vendor: "intel", width: Number(m[1]) }), summary: (m) => `VT-d host address width ${m[1]} bits` },
  { re: /^DMAR-IR: Enabled IRQ remapping in (x2apic|xapic) mode$/, fact: (m) => ({ fact: "ir-on", vendor: "intel", mode: m[1]! }), summary: (m) => `VT-d interrupt remapping on (${m[1]} mode)` },
  { re: /^DMAR-IR: Failed to enable irq remapping\. {1,2}You are vulnerable to irq-injection attacks\.$/, fact: () => ({ fact: "ir-failed", vendor: "intel" }), summary: () => "VT-d interrupt remapping failed to start" },
  { re: /^AMD-Vi: Interrupt remapping enabled$/, fact: () => ({ fact: "ir-on", vendor: "amd", mode: "" }), summary: () => "AMD-Vi interrupt remapping on" },
  { re: /^AMD-Vi: X2APIC enabled$/, fact: () => ({ fact: "x2apic", vendor: "amd" }), summary: () => "AMD-Vi x2APIC interrupt mode" },
  // DMAR table entries as dmar.c dmar_table_print_dmar_entry() prints them, in table order:
  // pr_info("DRHD base: %#016Lx flags: %#x\n", drhd->address, drhd->flags) (flags bit 0:
  // INCLUDE_PCI_ALL, VT-d spec 8.3; the kernel's %#x prints 0 as "0x0"); 3.x kernels' PREFIX was "dmar: ".
  { re: /^(?:DMAR|dmar): ?DRHD base: (0x[0-9a-f]{1,16}) flags: (0x[0-9a-f]{1,8}|0)$/, fact: (m) => ({ fact: "drhd", vendor: "intel", base: `0x${BigInt(m[1]!).toString(16)}`, includeAll: (parseInt(m[2]!, 16) & 1) === 1 }), summary: (m) => `VT-d DRHD at ${m[1]}${parseInt(m[2]!, 16) & 1 ? " (INCLUDE_PCI_ALL: every device no other DRHD lists)" : ""}` },
  // The unit alloc_iommu() made of that DRHD: pr_info("%s: reg_base_addr %llx ver %d:%d cap %llx ecap %llx\n",
  // iommu->name, ...) with iommu->name "dmar%d" of seq_id (dmar.c); older kernels printed
  // pr_info("IOMMU %d: reg_base_addr ...", iommu->seq_id) without a prefix (the same number).
  { re: /^(?:(?:DMAR|dmar): ?)?(?:dmar(\d+)|IOMMU (\d+)): reg_base_addr ([0-9a-f]{1,16}) ver (\d+):(\d+) cap ([0-9a-f]{1,16}) ecap ([0-9a-f]{1,16})$/, fact: (m) => ({ fact: "vtd-unit", vendor: "intel", unit: `dmar${m[1] ?? m[2]}`, base: `0x${BigInt(`0x${m[3]}`).toString(16)}`, cap: `0x${m[6]}`, ecap: `0x${m[7]}` }), summary: (m) => `VT-d unit dmar${m[1] ?? m[2]}: registers at 0x${m[3]}, cap 0x${m[6]} ecap 0x${m[7]}` },
  // amd/init.c print_iommu_info(): "Found IOMMU at %04x:%02x:%02x.%d cap 0x%hx" (pr_info), later
  // pci_info(pdev, "Found IOMMU cap 0x%x\n", iommu->cap_ptr), which names the IOMMU's function in the prefix.
  { re: /^(?:pci ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|\S+): )?AMD-Vi: Found IOMMU(?: at ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]))? cap (0x[0-9a-f]+)$/, fact: (m) => ({ fact: "amdvi-found", vendor: "amd", device: m[2] ?? m[1] ?? "", cap: m[3]! }), summary: (m) => `AMD-Vi IOMMU at ${m[2] ?? m[1] ?? "?"}` },
  { re: /^iommu: Default domain type: (Passthrough|Translated|Unmanaged|Blocked|Platform|Unknown)( \(set via kernel command line\))? ?$/, fact: (m) => ({ fact: "default-domain", domainType: m[1]!, fromCmdline: m[2] !== undefined }), summary: (m) => `default DMA domain: ${m[1]}${m[2] ? " (from the command line)" : ""}` },
  { re: /^iommu: DMA domain TLB invalidation policy: (strict|lazy) mode( \(set via kernel command line\))? ?$/, fact: (m) => ({ fact: "tlb-policy", policy: m[1]!, fromCmdline: m[2] !== undefined }), summary: (m) => `IOTLB invalidation ${m[1]}` },
  // `find /sys/class/iommu/*/devices/`: the links iommu_device_link() (drivers/iommu/iommu-sysfs.c) adds
  // under the unit that translates each device: dmarN (VT-d), ivhdN (AMD-Vi).
  { re: /^\/sys\/class\/iommu\/((?:dmar|ivhd)\d+)\/devices\/([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\/?$/, fact: (m) => ({ fact: "unit-device", vendor: m[1]!.startsWith("dmar") ? "intel" : "amd", unit: m[1]!, device: m[2]! }), summary: (m) => `${m[2]} is translated by ${m[1]}` },
  { re: /^PCI-DMA: Using software bounce buffering for IO \(SWIOTLB\)$/, fact: () => ({ fact: "swiotlb" }), summary: () => "software bounce buffering (no IOMMU translates DMA)" },
];

/** Boot-state records of a log, and the lines they use (the log parser skips those lines otherwise). */
export function parseBootState(lines: readonly string[]): EvidenceRecord[] {
  const out: EvidenceRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    // Cheap filter first: every rule's line carries one of these words.
    if (!/ommu|DMAR|dmar|reg_base_addr|AMD-Vi|ommand line|SWIOTLB/.test(raw)) continue;
    const msg = messageOf(raw);
    const text = msg.text.replace(/\s+$/, "");
    for (const rule of RULES) {
      const m = rule.re.exec(text);
      if (!m) continue;
      out.push({ kind: "boot-state", line: i, endLine: i, column: msg.column, text: raw, ...(msg.timestamp ? { timestamp: msg.timestamp } : {}), summary: rule.summary(m), fields: rule.fact(m), context: [] });
      break;
    }
  }
  return out;
}

export interface IommuStatus {
  /** Whether DMA from devices goes through IOMMU translation. */
  translation: "on" | "off" | "unknown";
  vendor: "intel" | "amd" | "unknown";
  /** The default domain of host devices: Translated, Passthrough (iommu=pt), ... */
  defaultDomain?: string;
  interruptRemapping: "on" | "off" | "unknown";
  interruptMode?: string;
  /** What in this boot keeps VFIO passthrough from working, each with its fix. */
  blockers: string[];
  /** The facts, each with the record it came from. */
  facts: { record: number; text: string }[];
}

/** The one answer of the boot-state records in `records` (undefined when there are none). */
export function iommuStatus(records: readonly EvidenceRecord[]): IommuStatus | undefined {
  const facts: { record: number; text: string }[] = [];
  const has = new Map<string, EvidenceRecord>();
  const params: string[] = [];
  records.forEach((r, i) => {
    if (r.kind !== "boot-state") return;
    facts.push({ record: i, text: `line ${r.line + 1}: ${r.summary}` });
    has.set(String(r.fields.fact), r);
    if (r.fields.fact === "cmdline" && typeof r.fields.params === "string") params.push(...r.fields.params.split(" ").filter(Boolean));
  });
  if (!facts.length) return undefined;
  const param = (name: string) => params.filter((p) => p.startsWith(`${name}=`)).map((p) => p.slice(name.length + 1)).pop();
  const vendor = has.get("vtd-initialized") || has.get("vtd-on") || has.get("vtd-off") || has.get("haw") || has.get("drhd") || has.get("vtd-unit") || (has.get("ir-on")?.fields.vendor === "intel") || has.get("unit-device")?.fields.vendor === "intel" ? "intel" : has.get("amdvi-found") || has.get("ir-on")?.fields.vendor === "amd" || has.get("unit-device")?.fields.vendor === "amd" ? "amd" : param("intel_iommu") !== undefined ? "intel" : param("amd_iommu") !== undefined ? "amd" : "unknown";
  const off = has.has("vtd-off") || /(^|,)off(,|$)/.test(param("intel_iommu") ?? "") || param("amd_iommu") === "off" || param("iommu") === "off";
  // A device linked under /sys/class/iommu/<unit>/devices is translated by a registered unit.
  const on = has.has("vtd-initialized") || has.has("amdvi-found") || has.has("default-domain") || has.has("unit-device");
  const translation = off ? "off" : on ? "on" : has.has("swiotlb") ? "off" : "unknown";
  const dd = has.get("default-domain");
  const defaultDomain = dd ? String(dd.fields.domainType) : param("iommu") === "pt" || param("iommu.passthrough") === "1" ? "Passthrough" : undefined;
  const ir = has.get("ir-on");
  const interruptRemapping = ir ? "on" : has.has("ir-failed") || param("intremap") === "off" ? "off" : "unknown";
  const blockers: string[] = [];
  if (translation === "off") {
    blockers.push(vendor === "amd" ? "The AMD IOMMU is off: remove amd_iommu=off / iommu=off from the kernel command line and enable IOMMU (AMD-Vi) in the firmware setup." : "VT-d DMA remapping is off: boot with intel_iommu=on (needed unless the kernel was built with CONFIG_INTEL_IOMMU_DEFAULT_ON) and enable VT-d in the firmware setup; /sys/class/iommu/ must then list dmar units.");
  } else if (translation === "unknown") {
    blockers.push("The log does not show the IOMMU being set up: check `ls /sys/class/iommu/` and `dmesg | grep -e DMAR -e AMD-Vi -e iommu` from the start of the boot (the early lines may have scrolled out of the ring buffer).");
  }
  if (interruptRemapping === "off") blockers.push("Interrupt remapping is off: VFIO refuses devices unless vfio_iommu_type1.allow_unsafe_interrupts=1 (unsafe: a device could inject interrupts); enable x2APIC/interrupt remapping in the firmware instead.");
  if (has.has("igfx-off")) blockers.push("intel_iommu=igfx_off: the integrated GPU is not behind the IOMMU, so it cannot be assigned with VFIO.");
  return {
    translation,
    vendor,
    ...(defaultDomain ? { defaultDomain } : {}),
    interruptRemapping,
    ...(ir && ir.fields.mode ? { interruptMode: String(ir.fields.mode) } : has.has("x2apic") ? { interruptMode: "x2apic" } : {}),
    blockers,
    facts,
  };
}

/** One line for the status: "DMA translation on (Intel VT-d; default domain Passthrough); interrupt remapping on (x2apic)". */
export function statusTitle(s: IommuStatus): string {
  const who = s.vendor === "intel" ? "Intel VT-d" : s.vendor === "amd" ? "AMD-Vi" : "";
  const detail = [who, s.defaultDomain ? `default domain ${s.defaultDomain}` : ""].filter(Boolean).join("; ");
  return `IOMMU status: DMA translation ${s.translation}${detail ? ` (${detail})` : ""}; interrupt remapping ${s.interruptRemapping}${s.interruptMode ? ` (${s.interruptMode})` : ""}`;
}

