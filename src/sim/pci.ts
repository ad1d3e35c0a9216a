/**
 * PCI topology, DMA aliases, IOMMU groups as Linux computes them, and group viability for VFIO.
 *
 * Sources: Linux drivers/iommu/iommu.c `pci_device_group()` (REQ_ACS_FLAGS = SV|RR|CR|UF, modelled
 * as the single `acs` boolean), drivers/pci/search.c `pci_for_each_dma_alias()`,
 * drivers/pci/bus.c `pci_bus_add_devices()` (probe order), drivers/vfio/vfio_main.c (viability:
 * vfio-pci, pci-stub, no driver, or a bridge). See ../shared/reference/iommu-reference.md §7.
 */
import { bdfKey, sidOfBdf, type Bdf } from "./bdf.js";
import type { AcsOverrideSpec, Diagnostic, DiagnosticCode, PciDeviceSpec, PciKind, Scenario } from "../scenario/types.js";
import { acsOverrideQuirk } from "./acsOverride.js";

export interface PciDevice {
  key: string;
  spec: PciDeviceSpec;
  bdf: Bdf;
  kind: PciKind;
  /** Requester ID: bus << 8 | dev << 3 | fn. */
  rid: number;
  parent?: PciDevice;
  children: PciDevice[];
  /** Header type 1 (root ports, switch ports, PCIe-to-PCI bridges). */
  isBridge: boolean;
  multifunction: boolean;
  secondaryBus?: number;
  /** A virtual function's physical function (SR-IOV; scenario/sriov.ts adds the VFs to host.pci). */
  physfn?: PciDevice;
  /** A physical function's enabled VFs, VF 1 first. */
  vfs?: PciDevice[];
}

export interface IommuGroup {
  id: number;
  devices: PciDevice[];
}

export interface TopologyProblem {
  code: DiagnosticCode;
  message: string;
  hint: string;
  key: string;
}

const BRIDGE_KINDS: ReadonlySet<PciKind> = new Set(["root-port", "switch-upstream", "switch-downstream", "pcie-pci-bridge"]);
/** Drivers that keep a group usable by VFIO (kernel DMA ownership: driver_managed_dma). */
const VFIO_FRIENDLY = new Set(["vfio-pci", "pci-stub"]);

export class PciTopology {
  readonly devices: PciDevice[] = [];
  readonly groups: IommuGroup[] = [];
  private readonly byKey = new Map<string, PciDevice>();
  private readonly groupByDevice = new Map<PciDevice, IommuGroup>();
  /**
   * Indexes over groupByDevice in its insertion order (seq), so that assignGroup finds "the first
   * device with a group that ..." without scanning every device (that scan made building a
   * 30 000-device topology quadratic): the first grouped device per DMA alias, and the first two
   * grouped functions without ACS per slot.
   */
  private readonly seq = new Map<PciDevice, number>();
  private readonly firstByAlias = new Map<number, PciDevice>();
  private readonly noAcsBySlot = new Map<string, PciDevice[]>();

  /** `pcie_acs_override=` in effect (sim/acsOverride.ts), if any. */
  readonly acsOverride: AcsOverrideSpec | undefined;

  /**
   * Firmware-declared DMA aliases (AMD IVRS IVHD alias entries, sim/amdvi/ivrs.ts): requester id
   * -> the id its DMA carries. Empty on other hosts.
   */
  private readonly ivrsAlias: ReadonlyMap<number, number>;

  private constructor(acsOverride?: AcsOverrideSpec, ivrsAlias?: ReadonlyMap<number, number>) {
    this.acsOverride = acsOverride;
    this.ivrsAlias = ivrsAlias ?? new Map();
  }

  static build(specs: PciDeviceSpec[], acsOverride?: AcsOverrideSpec, ivrsAlias?: ReadonlyMap<number, number>): { topology: PciTopology; problems: TopologyProblem[] } {
    const t = new PciTopology(acsOverride, ivrsAlias);
    const problems: TopologyProblem[] = [];
    const all: PciDevice[] = [];
    for (const spec of specs) {
      if (t.byKey.has(spec.key)) {
        problems.push({ code: "bdf-duplicate", message: `${spec.key} is listed twice`, hint: "Each PCI function appears once; remove the duplicate.", key: spec.key });
        continue;
      }
      const d: PciDevice = {
        key: spec.key,
        spec,
        bdf: spec.bdf,
        kind: spec.kind,
        rid: sidOfBdf(spec.bdf),
        children: [],
        isBridge: BRIDGE_KINDS.has(spec.kind),
        multifunction: spec.multifunction ?? false,
      };
      t.byKey.set(spec.key, d);
      all.push(d);
    }
    for (const d of all) {
      if (d.spec.physfn === undefined) continue;
      const pf = t.byKey.get(d.spec.physfn);
      if (pf === undefined) continue;
      d.physfn = pf;
      (pf.vfs ??= []).push(d);
    }
    for (const d of all) {
      if (d.spec.parent === undefined) continue;
      const p = t.byKey.get(bdfKey(d.spec.parent) ?? d.spec.parent);
      if (p === undefined) {
        problems.push({ code: "parent-unknown", message: `${d.key}: parent ${d.spec.parent} is not in host.pci`, hint: "Add the upstream port or bridge to host.pci, or remove `parent`.", key: d.key });
      } else if (!p.isBridge) {
        problems.push({ code: "parent-not-bridge", message: `${d.key}: parent ${p.key} is a ${p.kind}, not a bridge`, hint: "A parent must be a root-port, switch port or pcie-pci-bridge.", key: d.key });
      } else if (wouldCycle(p, d)) {
        problems.push({ code: "parent-cycle", message: `${d.key}: parent chain loops back to itself`, hint: "Devices must form a tree below the root bus.", key: d.key });
      } else {
        d.parent = p;
        p.children.push(d);
      }
    }
    for (const d of all) {
      if (d.isBridge) d.secondaryBus = d.spec.secondaryBus ?? d.children[0]?.bdf.bus;
      // A VF may sit on a bus beyond its PF's (its routing ID crosses buses): no bus check.
      if (d.physfn === undefined && d.parent?.secondaryBus !== undefined && d.parent.secondaryBus !== d.bdf.bus) {
        problems.push({
          code: "bus-mismatch",
          message: `${d.key} is on bus ${hex(d.bdf.bus, 2)} but its parent ${d.parent.key} leads to bus ${hex(d.parent.secondaryBus, 2)}`,
          hint: `Put ${d.key} on bus ${hex(d.parent.secondaryBus, 2)} or fix the parent's secondary-bus.`,
          key: d.key,
        });
      }
    }
    // Functions of one slot: any sibling makes the device multifunction.
    // (Counted per slot: comparing every pair was quadratic in the number of devices.)
    // VFs are single-function (pci_iov_scan_device(): virtfn->multifunction = 0) and make no PF multifunction.
    const perSlot = new Map<string, number>();
    for (const d of all) if (d.physfn === undefined) perSlot.set(slotKey(d), (perSlot.get(slotKey(d)) ?? 0) + 1);
    for (const d of all) if (d.physfn === undefined && perSlot.get(slotKey(d))! > 1) d.multifunction = true;
    // Probe order (pci_bus_add_devices): a bus's devices in devfn order, then each bridge's child bus.
    const byDevfn = (a: PciDevice, b: PciDevice) => a.bdf.segment - b.bdf.segment || a.bdf.bus - b.bdf.bus || a.rid - b.rid;
    const visit = (bus: PciDevice[]) => {
      bus.sort(byDevfn);
      for (const d of bus) t.devices.push(d);
      for (const d of bus) if (d.children.length > 0) visit([...d.children]);
    };
    visit(all.filter((d) => d.parent === undefined));
    for (const d of t.devices) t.assignGroup(d);
    return { topology: t, problems };
  }

  device(keyOrBdfText: string): PciDevice | undefined {
    return this.byKey.get(bdfKey(keyOrBdfText) ?? keyOrBdfText);
  }

  /** pci_for_each_dma_alias: own RID, then the RIDs substituted by bridges on the way up. */
  dmaAliases(dev: PciDevice): number[] {
    const out = [dev.rid];
    // amd_iommu setup_aliases: an IVRS alias on the device's own bus becomes a PCI DMA alias
    // (pci_add_dma_alias, in dma_alias_mask: visited right after the device's own id).
    const ivrs = this.ivrsAlias.get(dev.rid);
    if (ivrs !== undefined && ivrs >> 8 === dev.rid >> 8) out.push(ivrs);
    for (let p = dev.parent; p !== undefined; p = p.parent) {
      if (p.kind === "pcie-pci-bridge" && p.secondaryBus !== undefined) {
        // PCI_EXP_TYPE_PCI_BRIDGE: the bridge takes ownership with (secondary bus, devfn 0).
        const alias = (p.secondaryBus << 8) | 0;
        if (!out.includes(alias)) out.push(alias);
      }
    }
    return out;
  }

  /** The requester ID the IOMMU sees for DMA from `dev`: the last alias substituted on the way up. */
  requesterId(dev: PciDevice): number {
    // The IVRS says which id the device's requests carry (its alias, on any bus).
    const ivrs = this.ivrsAlias.get(dev.rid);
    if (ivrs !== undefined) return ivrs;
    const a = this.dmaAliases(dev);
    return a[a.length - 1]!;
  }

  groupOf(dev: PciDevice): IommuGroup {
    return this.groupByDevice.get(dev)!;
  }

  /** pci_device_group(). */
  private assignGroup(dev: PciDevice): void {
    const aliases = this.dmaAliases(dev);
    const join = (g: IommuGroup) => {
      g.devices.push(dev);
      this.groupByDevice.set(dev, g);
      this.seq.set(dev, this.seq.size);
      for (const a of aliases) if (!this.firstByAlias.has(a)) this.firstByAlias.set(a, dev);
      if (!this.acsEnabled(dev)) {
        const slot = this.noAcsBySlot.get(slotKey(dev));
        if (slot === undefined) this.noAcsBySlot.set(slotKey(dev), [dev]);
        else if (slot.length < 2) slot.push(dev);
      }
    };
    // (1) A DMA alias shared with a device that already has a group, or a PCIe-to-PCI bridge above
    // it that has one: the first such device in group-assignment order.
    let first: PciDevice | undefined;
    const consider = (other: PciDevice | undefined) => {
      if (other !== undefined && this.groupByDevice.has(other) && (first === undefined || this.seq.get(other)! < this.seq.get(first)!)) first = other;
    };
    for (const a of aliases) consider(this.firstByAlias.get(a));
    for (let p = dev.parent; p !== undefined; p = p.parent) if (p.isBridge && p.kind === "pcie-pci-bridge") consider(p);
    if (first !== undefined) {
      join(this.groupByDevice.get(first)!);
      return;
    }
    // (2) Walk up while the path above lacks ACS; the representative is the highest such bridge.
    let rep = dev;
    for (let p = dev.parent; p !== undefined; p = p.parent) {
      if (this.acsPathEnabled(p)) break;
      rep = p;
      const g = this.groupByDevice.get(p);
      if (g !== undefined) {
        join(g);
        return;
      }
    }
    // (4) Multifunction without ACS: join a sibling function that also lacks ACS.
    if (rep.multifunction && !this.acsEnabled(rep)) {
      const other = this.noAcsBySlot.get(slotKey(rep))?.find((o) => o !== rep);
      if (other !== undefined) {
        join(this.groupByDevice.get(other)!);
        return;
      }
    }
    const g: IommuGroup = { id: this.groups.length, devices: [] };
    this.groups.push(g);
    join(g);
  }

  /** pci_acs_path_enabled(start, NULL, REQ_ACS_FLAGS): pci_acs_enabled() for every port from `start` to the root. */
  private acsPathEnabled(start: PciDevice): boolean {
    for (let p: PciDevice | undefined = start; p !== undefined; p = p.parent) if (!this.acsEnabled(p)) return false;
    return true;
  }

  /** pci_acs_enabled(dev, REQ_ACS_FLAGS) on this host: the pcie_acs_override= quirk first, as the quirk table is. */
  acsEnabled(d: PciDevice): boolean {
    return acsEnabled(d, this.acsOverride);
  }

  viability(group: IommuGroup): { viable: boolean; blockers: { device: PciDevice; driver: string; why: string }[] } {
    const blockers: { device: PciDevice; driver: string; why: string }[] = [];
    for (const d of group.devices) {
      const drv = d.spec.driver;
      if (drv === undefined || drv === null || VFIO_FRIENDLY.has(drv) || d.isBridge) continue;
      blockers.push({ device: d, driver: drv, why: `${d.key} is bound to the host driver "${drv}"` });
    }
    return { viable: blockers.length === 0, blockers };
  }

  /**
   * The bridges above `dev` with their ACS state: `acs` as the device has it, `enabled` as
   * pci_acs_enabled() judges it (true for a single-function switch upstream port, where ACS does
   * not apply), `isolates` where the whole path from it to the root is enabled.
   */
  acsPath(dev: PciDevice): { device: PciDevice; acs: boolean; enabled: boolean; isolates: boolean; overridden?: boolean }[] {
    const out: { device: PciDevice; acs: boolean; enabled: boolean; isolates: boolean; overridden?: boolean }[] = [];
    for (let p = dev.parent; p !== undefined; p = p.parent) {
      const e: { device: PciDevice; acs: boolean; enabled: boolean; isolates: boolean; overridden?: boolean } = { device: p, acs: p.spec.acs, enabled: this.acsEnabled(p), isolates: this.acsPathEnabled(p) };
      if (this.acsOverride !== undefined && acsOverrideQuirk(p, this.acsOverride) === true) e.overridden = true;
      out.push(e);
    }
    return out;
  }
}

/**
 * pci_acs_enabled(pdev, REQ_ACS_FLAGS) (drivers/pci/pci.c, no device quirk): root and downstream
 * ports need the flags (PCIe 3.0 6.12.1.1); a PCIe-to-PCI bridge never has them; a switch upstream
 * port or an endpoint needs them only when it is multifunction (6.12.1.2), and a single-function one
 * returns true: "PCIe 3.0, 6.12.1.3 specifies no ACS capabilities are applicable to single function
 * devices with the exception of downstream ports."
 */
export function acsEnabled(d: PciDevice, override?: AcsOverrideSpec): boolean {
  // pci_dev_specific_acs_enabled() runs first: with the override patch its catch-all quirk
  // { PCI_ANY_ID, PCI_ANY_ID, pcie_acs_overrides } answers for the devices it claims.
  if (override !== undefined) {
    const q = acsOverrideQuirk(d, override);
    if (q !== undefined) return q;
  }
  switch (d.kind) {
    case "pcie-pci-bridge":
      return false;
    case "switch-upstream":
    case "endpoint":
    case "integrated":
      return d.multifunction ? d.spec.acs : true;
    default:
      return d.spec.acs;
  }
}

function slotKey(d: PciDevice): string {
  return `${d.bdf.segment}:${d.bdf.bus}:${d.bdf.device}`;
}

function wouldCycle(parent: PciDevice, child: PciDevice): boolean {
  for (let p: PciDevice | undefined = parent; p !== undefined; p = p.parent) if (p === child) return true;
  return false;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/**
 * Group viability as VFIO will judge it when each VM starts: a warning on the VM for each assigned
 * device whose IOMMU group is not viable (unless every start step of the VM expects the error).
 * The machine reports it with its topology problems (the scenario layer does not import the model).
 */
export function groupViabilityWarnings(s: Scenario, topology: PciTopology): Diagnostic[] {
  const out: Diagnostic[] = [];
  // Per VM: is every start step one that expects an error? (One pass over the workload, not one per VM.)
  const startsExpectingError = new Map<string, boolean>();
  for (const st of s.workload) if (st.op === "start") startsExpectingError.set(st.vm, (startsExpectingError.get(st.vm) ?? true) && st.expect?.error !== undefined);
  const viability = new Map<number, ReturnType<PciTopology["viability"]>>();
  for (const vm of s.vms) {
    if (startsExpectingError.get(vm.name) === true) continue;
    for (const key of vm.devices) {
      const dev = topology.device(key);
      if (!dev) continue;
      const group = topology.groupOf(dev);
      let v = viability.get(group.id);
      if (v === undefined) viability.set(group.id, (v = topology.viability(group)));
      if (!v.viable) {
        const others = v.blockers.map((b) => b.device.key);
        out.push({ severity: "warning", range: vm.range, code: "group-not-viable", message: `${key} is in IOMMU group ${group.id}, which is not viable: ${v.blockers.map((b) => b.why).join("; ")}`, hint: `Bind ${others.join(", ")} to vfio-pci (or pci-stub) too, or give ${key}'s root port ACS so it gets a group of its own.` });
      }
    }
  }
  return out;
}
