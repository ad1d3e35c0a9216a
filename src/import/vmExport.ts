/**
 * A scenario's VM, back out as the configuration a user runs: a QEMU command line and a libvirt
 * domain XML with the VM's name, memory, assigned host devices, vIOMMU and the VMM's
 * RLIMIT_MEMLOCK. The inverse of vmconfig.ts: importing an export gives the same VM facts (a
 * round-trip test holds it). Option names are QEMU's (intel-iommu caching-mode/intremap, needing
 * `kernel-irqchip=split` for interrupt remapping, docs/system/devices/intel-iommu) and libvirt's
 * (formatdomain: <hostdev managed>, <iommu model='intel'><driver caching_mode intremap>, <memtune>
 * <hard_limit>, <features><ioapic driver='qemu'>).
 */
import type { Scenario, VmSpec } from "../scenario/types.js";
import { formatBdf, parseBdf, type Bdf } from "../sim/bdf.js";

function vmOf(s: Scenario, name?: string): VmSpec {
  const vm = name === undefined ? s.vms[0] : s.vms.find((v) => v.name === name);
  if (!vm) throw new Error(name === undefined ? "the scenario has no VM" : `no VM named ${name} in the scenario`);
  return vm;
}

/** A scenario's device key (already validated) as its BDF (sim/bdf.ts, the one BDF parser). */
function bdfOf(key: string): Bdf {
  const p = parseBdf(key);
  if (!p.ok) throw new Error(`not a device key: ${key}`);
  return p.bdf;
}

/** A word for a POSIX shell: bare when safe, single-quoted otherwise. */
function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

const xmlText = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
/** A QEMU option value: a comma inside it is written twice (QEMU's QemuOpts escaping). */
const optValue = (s: string) => s.replace(/,/g, ",,");

/**
 * The QEMU command line of a VM (q35, KVM), one option per line with backslash continuations;
 * the memlock limit, when the scenario sets one, as the `ulimit -l` (KiB) a launcher script runs first.
 */
export function toQemuCommandLine(s: Scenario, vmName?: string): string {
  const vm = vmOf(s, vmName);
  const opts: string[][] = [
    ["-name", `guest=${optValue(vm.name)}`],
    ["-machine", `q35,accel=kvm${vm.viommu?.model === "intel" ? ",kernel-irqchip=split" : ""}`],
    ["-m", `${vm.memory / (1n << 20n)}M`],
  ];
  // The vIOMMU must come before the devices it translates for (QEMU checks at realize time).
  // virtio-iommu: -device virtio-iommu-pci with QEMU's granule / aw-bits properties (hw/virtio/virtio-iommu.c).
  if (vm.viommu?.model === "virtio-iommu") {
    const g = vm.viommu.granule;
    opts.push(["-device", `virtio-iommu-pci${g ? `,granule=${g / 1024}k` : ""}${vm.viommu.awBits ? `,aw-bits=${vm.viommu.awBits}` : ""}`]);
  } else if (vm.viommu) opts.push(["-device", `intel-iommu,intremap=on,caching-mode=${vm.viommu.cachingMode ? "on" : "off"}`]);
  // The iommufd backend: one /dev/iommu object the devices name (docs/devel/vfio-iommufd.rst:
  // "-object iommufd,id=iommufd0 -device vfio-pci,host=...,iommufd=iommufd0").
  const iommufd = vm.backend === "iommufd" ? ",iommufd=iommufd0" : "";
  if (iommufd) opts.push(["-object", "iommufd,id=iommufd0"]);
  vm.devices.forEach((d, k) => opts.push(["-device", `vfio-pci,host=${formatBdf(bdfOf(d), "always")},id=hostdev${k}${iommufd}`]));
  opts.push(["-nographic"]);
  const lines = ["qemu-system-x86_64 \\", ...opts.map((o, k) => `  ${o.map(shellWord).join(" ")}${k < opts.length - 1 ? " \\" : ""}`)];
  const pre = s.host.memlock !== undefined ? [`ulimit -l ${s.host.memlock / 1024n}`] : [];
  return [...pre, ...lines, ""].join("\n");
}

/** The libvirt domain XML of a VM. */
export function toLibvirtXml(s: Scenario, vmName?: string): string {
  const vm = vmOf(s, vmName);
  const out = ["<domain type='kvm'>", `  <name>${xmlText(vm.name)}</name>`, `  <memory unit='KiB'>${vm.memory / 1024n}</memory>`];
  if (s.host.memlock !== undefined) out.push("  <memtune>", `    <hard_limit unit='KiB'>${s.host.memlock / 1024n}</hard_limit>`, "  </memtune>");
  out.push("  <os>", "    <type arch='x86_64' machine='q35'>hvm</type>", "  </os>", "  <features>", "    <acpi/>");
  // Interrupt remapping with a vIOMMU needs the split irqchip: libvirt's <ioapic driver='qemu'/>.
  if (vm.viommu?.model === "intel") out.push("    <ioapic driver='qemu'/>");
  out.push("  </features>", "  <devices>");
  for (const d of vm.devices) {
    const b = bdfOf(d);
    const h = (n: number, w: number) => n.toString(16).padStart(w, "0");
    out.push(
      "    <hostdev mode='subsystem' type='pci' managed='yes'>",
      "      <source>",
      `        <address domain='0x${h(b.segment, 4)}' bus='0x${h(b.bus, 2)}' slot='0x${h(b.device, 2)}' function='0x${b.fn}'/>`,
      "      </source>",
      "    </hostdev>",
    );
  }
  // libvirt: <iommu model='virtio'/> is -device virtio-iommu-pci.
  if (vm.viommu?.model === "virtio-iommu") out.push("    <iommu model='virtio'/>");
  else if (vm.viommu) out.push("    <iommu model='intel'>", `      <driver intremap='on' caching_mode='${vm.viommu.cachingMode ? "on" : "off"}'/>`, "    </iommu>");
  out.push("  </devices>", "</domain>", "");
  return out.join("\n");
}
