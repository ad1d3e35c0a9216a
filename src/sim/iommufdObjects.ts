/**
 * iommufd beyond one IOAS per VM: the object table of a VM's /dev/iommu file and the `iommufd:`
 * scenario steps that act on it - IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP on any IOAS,
 * IOMMU_IOAS_COPY, IOMMU_HWPT_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT and IOMMU_DESTROY, with the
 * kernel's errno rules. Read in a v6.6.9 tree (drivers/iommu/iommufd/, the first kernel with VFIO
 * device cdevs):
 *
 * Object ids - main.c: `xa_init_flags(&ictx->objects, XA_FLAGS_ALLOC1 | ...)` and
 *   `xa_alloc(&ictx->objects, &obj->id, XA_ZERO_ENTRY, xa_limit_31b, ...)`: the lowest free id
 *   from 1, so a destroyed object's id is handed out again. At the VM's start QEMU holds IOAS 1,
 *   one device object per bound device (2, 3, ...) and the automatic hwpt after them (sim/iommufd.ts).
 * Lookups - main.c iommufd_get_object(): an id that is absent or of another type -> -ENOENT
 *   (iommufd_get_ioas() asks for IOMMUFD_OBJ_IOAS, iommufd_get_device() for IOMMUFD_OBJ_DEVICE).
 * IOMMU_IOAS_ALLOC - ioas.c iommufd_ioas_alloc_ioctl(): a new, empty IOAS; out_ioas_id.
 * IOMMU_IOAS_MAP / _UNMAP - the IOAS's rules (sim/iommufd.ts IommufdIoas), after the ENOENT lookup.
 * IOMMU_IOAS_COPY - ioas.c iommufd_ioas_copy(): `length`, `src_iova` or `dst_iova` >= ULONG_MAX
 *   -> -EOVERFLOW; the source IOAS (ENOENT); io_pagetable.c iopt_get_pages(): `!length` -> -EINVAL,
 *   the range not covered by contiguous areas (`!iopt_area_contig_done(&iter)`) -> -ENOENT; the
 *   destination IOAS (ENOENT); iopt_map_pages() with the map's checks (alignment, reserved regions
 *   -> EINVAL, an existing area -> EEXIST). The pages are the source's (`elm->pages = area->pages`,
 *   kref_get): nothing is pinned or charged to RLIMIT_MEMLOCK again.
 * IOMMU_HWPT_ALLOC - hw_pagetable.c iommufd_hwpt_alloc(): the device (ENOENT), then `pt_id` must be
 *   an IOAS (iommufd_get_ioas: ENOENT for an hwpt or a device id in v6.6; nesting parents came
 *   later); iommufd_hw_pagetable_alloc() allocates a paging domain on the device's IOMMU, fills it
 *   from the IOAS (iopt_table_add_domain) and takes a reference on the IOAS
 *   (`refcount_inc(&ioas->obj.users)`). The hwpt is not attached.
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT - device.c iommufd_device_change_pt(): `pt_id` looked up as any
 *   object (ENOENT); an hwpt -> attach to its domain; an IOAS -> the automatic domain (one per IOAS
 *   and IOMMU, reused); anything else -> -EINVAL. An attached device is replaced (vfio's
 *   iommufd_device_replace) and its old automatic hwpt dropped when unused. Attaching holds a
 *   reference on the hwpt (`refcount_inc(&hwpt->obj.users)`). The whole group moves.
 * IOMMU_DESTROY - main.c iommufd_destroy() / iommufd_object_remove(): an absent id -> -ENOENT; an
 *   object with users besides the table (`!refcount_dec_if_one(&obj->users)`) -> -EBUSY: an IOAS
 *   with an hwpt, an attached hwpt, a bound device (iommufd_device_bind: "refcount_inc(&idev->obj.users)").
 *
 * RLIMIT_MEMLOCK: each IOAS_MAP is charged to the VM's counter (iommufd.ts: the user's or the
 * process's locked_vm, Vmm.lockedVm); IOAS_COPY is not charged again.
 * Model limits: a domain allocated by
 * IOMMU_HWPT_ALLOC is not freed when the VM stops (its id is not reused).
 */
import type { Step } from "../scenario/types.js";
import { domainName, type HostDomain, type HostFaultQueues, type HostIopf, type HostNesting, type HostVEvent } from "./host-iommu.js";
import { IommufdIoas, ioasEnomemText } from "./iommufd.js";
import type { StepOutcome } from "./machine.js";
import { STRERROR, type Errno, type VfioContainer } from "./vfio.js";

export type IommufdStep = Extract<Step, { op: "iommufd" }>;

type IommufdObject =
  | { type: "ioas"; ioas: IommufdIoas; users: number }
  | { type: "device"; key: string; users: number; hwpt: number }
  | { type: "hwpt"; ioas: number; domain: HostDomain; auto: boolean; users: number; fault?: number; nestParent?: boolean }
  | { type: "fault"; users: number }
  | NestingObject;

/** The vIOMMU objects (viommu.c, eventq.c): plain data, kept as they are in checkpoints. */
type NestingObject =
  | { type: "viommu"; users: number; parent: number }
  | { type: "vdevice"; users: number; viommu: number; key: string; virtId: number }
  | { type: "nested"; users: number; viommu: number; vste: [bigint, bigint]; ats: boolean }
  | { type: "veventq"; users: number; viommu: number; depth: number; lastSeq?: number };

const isNesting = (o: IommufdObject): o is NestingObject => o.type === "viommu" || o.type === "vdevice" || o.type === "nested" || o.type === "veventq";

/** What the steps need of the VMM (vmm.ts builds it). */
export interface IommufdPort {
  /** The VM's first IOAS (its container), its devices and its first domain, or why there is none. */
  vm(name: string): { ioas: IommufdIoas; devices: string[]; domain: HostDomain; gpaToHva(gpa: bigint): bigint | undefined; context?: IommufdContext; setContext(c: IommufdContext): void } | string;
  /** A new, empty IOAS wired to the host IOMMU driver like the VM's first one. */
  newIoas(vm: string): IommufdIoas;
  allocDomain(): HostDomain;
  /** IOMMU_HWPT_ALLOC_DIRTY_TRACKING: a domain with dirty tracking ops, or why the driver refuses (EOPNOTSUPP). */
  allocDirtyDomain(): HostDomain | string;
  /** IOMMU_HWPT_SET_DIRTY_TRACKING: undefined, or why not (EOPNOTSUPP). */
  setDirtyTracking(domain: HostDomain, enable: boolean): string | undefined;
  /** IOMMU_HWPT_GET_DIRTY_BITMAP: the dirty pages' IOVAs, or why not (EINVAL). */
  readAndClearDirty(domain: HostDomain, iova: bigint, length: bigint): bigint[] | string;
  /** Attach the group of `device` (every DMA alias of every member) to `domain`. */
  attachGroup(device: string, domain: HostDomain): void;
  /** Record a map or unmap in the trace. */
  traceMap(did: number, iova: bigint, size: bigint, prot: number, unmap: boolean): void;
  fail(out: StepOutcome, errno: Errno, summary: string): void;
  error(out: StepOutcome, summary: string): void;
  /** The host IOMMU driver's fault delivery (HostIommu.faultQueues), absent where the model has none. */
  faultQueues?: HostFaultQueues;
  /** The requester ids (DMA aliases) of a host device. */
  rids(key: string): number[];
  /** The host IOMMU driver's vIOMMU support (HostIommu.nesting), absent where the model has none. */
  nesting?: HostNesting;
  /** A line on the VM's VMM stderr (QEMU's error_report). */
  vmmLog(vm: string, text: string): void;
  /** A line in the VM's own kernel log (the guest's dmesg). */
  guestLog(vm: string, text: string): void;
  /**
   * A device of VM `vm` was attached to a nested hwpt with vSTE `vste`: the guest's side of it
   * (the guest's arm-smmu-v3 writes its CD where the scenario drives it: smmuv3/guestDriver.ts);
   * what to add to the step's summary.
   */
  nestedAttached?(vm: string, device: string, vste: readonly [bigint, bigint]): string | undefined;
}

/** One VM's object table (kept on its VmRuntime, saved and restored with machine checkpoints). */
export class IommufdContext {
  readonly objects = new Map<number, IommufdObject>();

  /** `first`: the VM's container, IOAS 1 (a restarted VM has a new one, hence a new table). */
  constructor(readonly first: IommufdIoas, devices: string[], domain: HostDomain | undefined) {
    const ioas = first;
    this.objects.set(ioas.ioasId, { type: "ioas", ioas, users: 2 });
    if (domain === undefined) return;
    let id = ioas.ioasId + 1;
    for (const key of devices) this.objects.set(id++, { type: "device", key, users: 2, hwpt: 0 });
    const hwpt = id;
    this.objects.set(hwpt, { type: "hwpt", ioas: ioas.ioasId, domain, auto: true, users: 1 + devices.length });
    for (const o of this.objects.values()) if (o.type === "device") o.hwpt = hwpt;
  }

  /** xa_alloc with XA_FLAGS_ALLOC1: the lowest free id from 1. */
  alloc(o: IommufdObject): number {
    let id = 1;
    while (this.objects.has(id)) id++;
    this.objects.set(id, o);
    return id;
  }

  ioas(id: number): IommufdIoas | undefined {
    const o = this.objects.get(id);
    return o?.type === "ioas" ? o.ioas : undefined;
  }

  device(key: string): [number, Extract<IommufdObject, { type: "device" }>] | undefined {
    for (const [id, o] of this.objects) if (o.type === "device" && o.key === key) return [id, o];
    return undefined;
  }
}

/** A checkpoint of the table: the extra IOASes' mapping lists, the hwpts' domain ids. */
export type IommufdSnapshot = [number, { type: "ioas"; users: number; container?: ReturnType<IommufdIoas["snapshot"]> } | { type: "device"; key: string; users: number; hwpt: number } | { type: "hwpt"; ioas: number; did: number; auto: boolean; users: number; fault?: number; nestParent?: boolean } | { type: "fault"; users: number } | NestingObject][];

export function snapshotIommufd(ctx: IommufdContext): IommufdSnapshot {
  return [...ctx.objects].map(([id, o]) => [id, o.type === "ioas" ? { type: "ioas", users: o.users, ...(o.ioas === ctx.first ? {} : { container: o.ioas.snapshot() }) } : o.type === "device" || o.type === "fault" || isNesting(o) ? { ...o } : { type: "hwpt", ioas: o.ioas, did: o.domain.did, auto: o.auto, users: o.users, ...(o.fault !== undefined ? { fault: o.fault } : {}), ...(o.nestParent === true ? { nestParent: true } : {}) }]);
}

/** The table again, around the VM's restored container; `newIoas` and `domain` rebuild the rest. */
export function restoreIommufd(s: IommufdSnapshot, first: IommufdIoas, newIoas: () => IommufdIoas, domain: (did: number) => HostDomain): IommufdContext {
  const ctx = new IommufdContext(first, [], undefined);
  ctx.objects.clear();
  for (const [id, o] of s) {
    if (o.type === "ioas") {
      let ioas = first;
      if (o.container !== undefined) {
        ioas = newIoas();
        ioas.ioasId = id;
        ioas.restore(o.container);
      }
      ctx.objects.set(id, { type: "ioas", ioas, users: o.users });
    } else if (o.type !== "hwpt") ctx.objects.set(id, { ...o });
    else ctx.objects.set(id, { type: "hwpt", ioas: o.ioas, domain: domain(o.did), auto: o.auto, users: o.users, ...(o.fault !== undefined ? { fault: o.fault } : {}), ...(o.nestParent === true ? { nestParent: true } : {}) });
  }
  return ctx;
}

const ULONG_MAX = (1n << 64n) - 1n;
const hex = (v: bigint | number) => `0x${v.toString(16)}`;

export function runIommufdStep(port: IommufdPort, st: IommufdStep, out: StepOutcome): void {
  const vm = port.vm(st.vm);
  if (typeof vm === "string") {
    port.error(out, vm);
    return;
  }
  let ctx = vm.context;
  if (ctx === undefined || ctx.first !== vm.ioas) {
    ctx = new IommufdContext(vm.ioas, vm.devices, vm.domain);
    vm.setContext(ctx);
  }
  const enoent = (what: string) => port.fail(out, "ENOENT", `${st.ioctl} failed: ENOENT (${STRERROR.ENOENT}): ${what}`);
  const ioasOr = (id: number | undefined, what: string): IommufdIoas | undefined => {
    const a = id === undefined ? undefined : ctx.ioas(id);
    if (a === undefined) enoent(`${what} ${id ?? "?"} is not an IOAS${objectName(ctx, id)}`);
    return a;
  };
  switch (st.ioctl) {
    case "IOMMU_IOAS_ALLOC": {
      const ioas = port.newIoas(st.vm);
      const id = ctx.alloc({ type: "ioas", ioas, users: 1 });
      (ioas as { ioasId: number }).ioasId = id;
      out.summary = `IOMMU_IOAS_ALLOC -> IOAS ${id} (empty, no domain yet)`;
      return;
    }
    case "IOMMU_IOAS_MAP": {
      const ioas = ioasOr(st.ioas, "ioas_id");
      if (!ioas) return;
      const vaddr = vm.gpaToHva(st.gpa!) ?? 0xdead00000000n + st.gpa!;
      const r = ioas.map({ iova: st.iova!, vaddr, size: st.length!, read: true, write: true });
      if (!r.ok) return port.fail(out, r.errno, `IOMMU_IOAS_MAP on IOAS ${st.ioas} failed: ${r.errno} (${STRERROR[r.errno]})${r.errno === "ENOMEM" ? ioasEnomemText(ioas) : ""}`);
      for (const did of ioas.domainIds) port.traceMap(did, st.iova!, st.length!, 3, false);
      out.summary = `IOMMU_IOAS_MAP: IOAS ${st.ioas} maps IOVA ${hex(st.iova!)}+${hex(st.length!)} -> GPA ${hex(st.gpa!)}${domainsText(ioas)}`;
      return;
    }
    case "IOMMU_IOAS_UNMAP": {
      const ioas = ioasOr(st.ioas, "ioas_id");
      if (!ioas) return;
      const r = ioas.unmap({ iova: st.iova!, size: st.length! });
      if (!r.ok) return port.fail(out, r.errno, `IOMMU_IOAS_UNMAP on IOAS ${st.ioas} failed: ${r.errno} (${STRERROR[r.errno]})${r.errno === "ENOENT" ? ": no mapping lies wholly inside the range" : ""}`);
      for (const did of ioas.domainIds) port.traceMap(did, st.iova!, r.unmapped, 0, true);
      out.summary = `IOMMU_IOAS_UNMAP: IOAS ${st.ioas} unmapped ${hex(r.unmapped)} bytes from IOVA ${hex(st.iova!)}`;
      return;
    }
    case "IOMMU_IOAS_COPY": {
      const length = st.length!;
      if (length >= ULONG_MAX || st.srcIova! >= ULONG_MAX || st.iova! >= ULONG_MAX) return port.fail(out, "EOVERFLOW", `IOMMU_IOAS_COPY failed: EOVERFLOW (${STRERROR.EOVERFLOW})`);
      const src = ioasOr(st.srcIoas, "src_ioas_id");
      if (!src) return;
      if (length === 0n) return port.fail(out, "EINVAL", `IOMMU_IOAS_COPY failed: EINVAL (${STRERROR.EINVAL}): length 0`);
      // iopt_get_pages(): the areas must cover [src_iova, src_iova + length - 1] without a gap.
      const pieces = coveringAreas(src, st.srcIova!, length);
      if (pieces === undefined) return enoent(`IOAS ${st.srcIoas} has no contiguous mapping over IOVA ${hex(st.srcIova!)}+${hex(length)}`);
      const dst = ioasOr(st.ioas, "dst_ioas_id");
      if (!dst) return;
      const r = dst.mapShared(st.iova!, pieces, length);
      if (!r.ok) return port.fail(out, r.errno, `IOMMU_IOAS_COPY into IOAS ${st.ioas} failed: ${r.errno} (${STRERROR[r.errno]})`);
      for (const did of dst.domainIds) port.traceMap(did, st.iova!, length, 3, false);
      out.summary = `IOMMU_IOAS_COPY: IOAS ${st.srcIoas} IOVA ${hex(st.srcIova!)}+${hex(length)} -> IOAS ${st.ioas} IOVA ${hex(st.iova!)} (the same pinned pages, not charged again)${domainsText(dst)}`;
      return;
    }
    case "IOMMU_HWPT_ALLOC": {
      const dev = ctx.device(st.device!);
      if (!dev) return enoent(`dev_id: ${st.device} is not bound to this iommufd`);
      if (st.vste !== undefined) return nestedHwptAlloc(port, ctx, st, out);
      if (st.nestParent === true && port.nesting === undefined) return port.error(out, `IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT: nesting is modelled for SMMUv3 only`);
      const ioas = ioasOr(st.pt, "pt_id");
      if (!ioas) return;
      // IOMMU_HWPT_FAULT_ID_VALID: iommufd_get_fault(fault_id) (another type or no object: -ENOENT).
      const faultObj = st.fault === undefined ? undefined : ctx.objects.get(st.fault);
      if (st.fault !== undefined && faultObj?.type !== "fault") return enoent(`fault_id ${st.fault} is not a fault object${objectName(ctx, st.fault)}`);
      if (st.fault !== undefined && port.faultQueues === undefined) return port.error(out, `IOMMU_HWPT_ALLOC with a fault_id: fault delivery is modelled for SMMUv3 only`);
      // IOMMU_HWPT_ALLOC_NEST_PARENT (smmuv3) / IOMMU_HWPT_ALLOC_DIRTY_TRACKING: the driver's
      // domain_alloc_paging_flags decides (VT-d: -EOPNOTSUPP without ssads_supported()).
      const parent = st.nestParent === true ? port.nesting!.allocNestParent() : undefined;
      if (typeof parent === "string") return port.error(out, `IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT failed: EOPNOTSUPP: ${parent}`);
      const dirty = st.dirtyTracking === true ? port.allocDirtyDomain() : undefined;
      if (typeof dirty === "string") return port.fail(out, "EOPNOTSUPP", `IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_DIRTY_TRACKING failed: EOPNOTSUPP (${STRERROR.EOPNOTSUPP}): ${dirty}`);
      const domain = parent ?? dirty ?? port.allocDomain();
      ioas.addDomain(domain.did);
      const ioasObj = ctx.objects.get(st.pt!)!;
      ioasObj.users++;
      const id = ctx.alloc({ type: "hwpt", ioas: st.pt!, domain, auto: false, users: 1, ...(st.fault !== undefined ? { fault: st.fault } : {}), ...(parent !== undefined ? { nestParent: true } : {}) });
      if (faultObj !== undefined) {
        // hwpt->fault = fault; domain->iopf_handler = iommufd_fault_iopf_handler; refcount_inc(&fault->obj.users).
        faultObj.users++;
        port.faultQueues!.setFaultQueue(domain, st.fault);
      }
      out.summary = `IOMMU_HWPT_ALLOC -> hwpt ${id}: ${parent !== undefined ? "a stage-2 nesting parent (IOMMU_HWPT_ALLOC_NEST_PARENT), " : ""}domain ${domainName(domain)}${dirty !== undefined ? " (dirty tracking capable, off)" : ""} for ${st.device}'s IOMMU, filled from IOAS ${st.pt} (${ioas.dmas.length} mapping${ioas.dmas.length === 1 ? "" : "s"})${faultObj !== undefined ? `; its I/O page faults go to fault object ${st.fault} (IOMMU_HWPT_FAULT_ID_VALID)` : ""}; not attached`;
      return;
    }
    case "IOMMU_HWPT_SET_DIRTY_TRACKING":
    case "IOMMU_HWPT_GET_DIRTY_BITMAP": {
      // hw_pagetable.c iommufd_hwpt_set_dirty_tracking / iommufd_hwpt_get_dirty_bitmap:
      // iommufd_get_hwpt_paging(hwpt_id) (another type or no object: -ENOENT).
      const o = ctx.objects.get(st.id!);
      if (o?.type !== "hwpt") return enoent(`hwpt_id ${st.id} is not an hwpt${objectName(ctx, st.id)}`);
      if (st.ioctl === "IOMMU_HWPT_SET_DIRTY_TRACKING") {
        // iopt_set_dirty_tracking: `if (!ops) return -EOPNOTSUPP` (the domain has no dirty_ops).
        const enable = st.enable ?? true;
        const why = port.setDirtyTracking(o.domain, enable);
        if (why !== undefined) return port.fail(out, "EOPNOTSUPP", `IOMMU_HWPT_SET_DIRTY_TRACKING failed: EOPNOTSUPP (${STRERROR.EOPNOTSUPP}): ${why}`);
        out.summary = `IOMMU_HWPT_SET_DIRTY_TRACKING: hwpt ${st.id} (domain ${domainName(o.domain)}) dirty tracking ${enable ? "on" : "off"}`;
        return;
      }
      const length = st.length!;
      if (length === 0n || ((st.iova! | length) & 0xfffn) !== 0n) return port.fail(out, "EINVAL", `IOMMU_HWPT_GET_DIRTY_BITMAP failed: EINVAL (${STRERROR.EINVAL}): iova and length must be page-aligned and length non-zero`);
      const r = port.readAndClearDirty(o.domain, st.iova!, length);
      if (typeof r === "string") return port.fail(out, "EINVAL", `IOMMU_HWPT_GET_DIRTY_BITMAP failed: EINVAL (${STRERROR.EINVAL}): ${r}`);
      out.dirty = r;
      out.summary = `IOMMU_HWPT_GET_DIRTY_BITMAP: hwpt ${st.id} IOVA ${hex(st.iova!)}+${hex(length)}: ${r.length === 0 ? "no dirty page" : `${r.length} dirty page${r.length === 1 ? "" : "s"} (${r.map(hex).join(", ")}), D cleared`}`;
      return;
    }
    case "IOMMU_FAULT_QUEUE_ALLOC": {
      // fault.c iommufd_fault_alloc: a fault object and its fd (out_fault_id, out_fault_fd).
      if (port.faultQueues === undefined) return port.error(out, `IOMMU_FAULT_QUEUE_ALLOC: fault delivery is modelled for SMMUv3 only`);
      const id = ctx.alloc({ type: "fault", users: 1 });
      out.summary = `IOMMU_FAULT_QUEUE_ALLOC -> fault object ${id} and its fd: I/O page faults of hwpts allocated with fault_id ${id} are read from it`;
      return;
    }
    case "IOMMU_HWPT_PAGE_RESPONSE": {
      const fq = port.faultQueues;
      const o = st.fault === undefined ? undefined : ctx.objects.get(st.fault);
      if (o?.type !== "fault" || fq === undefined) return enoent(`fault object ${st.fault} does not exist${objectName(ctx, st.fault)}`);
      const queued = fq.pending(st.fault!);
      const cookie = st.cookie ?? queued[0]?.cookie;
      // read() of the fault fd, then write() of struct iommu_hwpt_page_response { cookie, code }.
      if (cookie === undefined) return port.fail(out, "EINVAL", `write(fault fd ${st.fault}) failed: EINVAL (${STRERROR.EINVAL}): no fault group is queued (read() would block)`);
      const code = st.code === "invalid" ? 1 : 0;
      const r = fq.respond(st.fault!, cookie, code);
      if (typeof r === "string") return port.fail(out, "EINVAL", `write(fault fd ${st.fault}) failed: EINVAL (${STRERROR.EINVAL}): ${r}`);
      out.summary = `read(fault fd ${st.fault}): ${pgfaultText(r, ctx, port)}; write: iommu_hwpt_page_response { cookie ${cookie}, code IOMMUFD_PAGE_RESP_${code === 0 ? "SUCCESS" : "INVALID"} } -> CMD_RESUME ${code === 0 ? "RETRY (the device retries the access)" : "ABORT"}`;
      return;
    }
    case "IOMMU_VIOMMU_ALLOC":
    case "IOMMU_VDEVICE_ALLOC":
    case "IOMMU_VEVENTQ_ALLOC":
    case "IOMMU_VEVENTQ_READ":
    case "IOMMU_HWPT_INVALIDATE":
      return viommuStep(port, ctx, st, out);
    case "VFIO_DEVICE_ATTACH_IOMMUFD_PT": {
      const dev = ctx.device(st.device!);
      if (!dev) return port.error(out, `${st.device} is not a device of VM ${st.vm}`);
      const pt = ctx.objects.get(st.pt!);
      if (pt === undefined) return enoent(`pt_id ${st.pt} is no object`);
      if (pt.type === "nested") return attachNested(port, ctx, st, dev, out);
      let hwptId: number;
      if (pt.type === "hwpt") hwptId = st.pt!;
      else if (pt.type === "ioas") {
        // iommufd_device_auto_get_domain(): reuse the IOAS's automatic domain, else make one.
        const auto = [...ctx.objects].find(([, o]) => o.type === "hwpt" && o.auto && o.ioas === st.pt);
        if (auto) hwptId = auto[0];
        else {
          const domain = port.allocDomain();
          pt.ioas.addDomain(domain.did);
          pt.users++;
          hwptId = ctx.alloc({ type: "hwpt", ioas: st.pt!, domain, auto: true, users: 1 });
        }
      } else return port.fail(out, "EINVAL", `VFIO_DEVICE_ATTACH_IOMMUFD_PT failed: EINVAL (${STRERROR.EINVAL}): pt_id ${st.pt} is ${OBJECT_ARTICLES[pt.type]}${pt.type === "device" ? " object" : ""}, neither an IOAS nor an hwpt`);
      const hwpt = ctx.objects.get(hwptId) as Extract<IommufdObject, { type: "hwpt" }>;
      const old = dev[1].hwpt;
      if (old === hwptId) {
        out.summary = `${st.device} is already attached to hwpt ${hwptId} (domain ${domainName(hwpt.domain)})`;
        return;
      }
      if (hwpt.fault !== undefined) {
        // iommufd_fault_domain_attach_dev -> IOPF on the device (arm-smmu-v3: -EINVAL when it cannot).
        const why = port.rids(st.device!).map((rid) => port.faultQueues?.iopfUnsupported(rid)).find((x) => x !== undefined);
        if (why !== undefined) return port.fail(out, "EINVAL", `VFIO_DEVICE_ATTACH_IOMMUFD_PT failed: EINVAL (${STRERROR.EINVAL}): hwpt ${hwptId} takes I/O page faults, but ${st.device}: ${why}`);
      }
      port.attachGroup(st.device!, hwpt.domain);
      hwpt.users++;
      dev[1].hwpt = hwptId;
      let dropped = "";
      const prev = ctx.objects.get(old);
      if (prev?.type === "nested") prev.users--;
      if (prev?.type === "hwpt") {
        prev.users--;
        // An automatic hwpt goes with its last device (iommufd_hw_pagetable_put of the replaced one).
        if (prev.auto && prev.users === 1) {
          ctx.objects.delete(old);
          const o = ctx.objects.get(prev.ioas);
          if (o?.type === "ioas") {
            o.users--;
            o.ioas.removeDomain(prev.domain.did);
          }
          dropped = `; automatic hwpt ${old} (domain ${domainName(prev.domain)}) destroyed`;
        }
      }
      out.summary = `VFIO_DEVICE_ATTACH_IOMMUFD_PT: ${st.device} (and its group) now translates through hwpt ${hwptId} = domain ${domainName(hwpt.domain)} of IOAS ${hwpt.ioas}${dropped}`;
      return;
    }
    case "IOMMU_DESTROY": {
      const o = ctx.objects.get(st.id!);
      if (o === undefined) return enoent(`id ${st.id} is no object`);
      if (o.users > 1) {
        const why = o.type === "device" ? "a bound device is destroyed by closing its VFIO cdev" : o.type === "ioas" ? "an hwpt still refers to it" : o.type === "fault" ? "an hwpt delivers its faults to it" : o.type === "viommu" ? "a vDEVICE, a nested hwpt or a vEVENTQ refers to it" : o.type === "hwpt" && o.nestParent === true && o.users > 1 ? "a device or a vIOMMU uses it" : "a device is attached to it";
        return port.fail(out, "EBUSY", `IOMMU_DESTROY failed: EBUSY (${STRERROR.EBUSY}): ${o.type} ${st.id} is in use (${why})`);
      }
      ctx.objects.delete(st.id!);
      if (o.type === "hwpt") {
        const a = ctx.objects.get(o.ioas);
        if (a?.type === "ioas") {
          a.users--;
          a.ioas.removeDomain(o.domain.did);
        }
        const f = o.fault === undefined ? undefined : ctx.objects.get(o.fault);
        if (f?.type === "fault") f.users--;
      } else if (o.type === "ioas") o.ioas.unmap({ iova: 0n, size: 0n, all: true });
      else if (isNesting(o)) {
        // The object's reference on what it was made from goes (viommu.c / eventq.c destroy: refcount_dec).
        const ref = ctx.objects.get(o.type === "viommu" ? o.parent : o.viommu);
        if (ref !== undefined) ref.users--;
        if (o.type === "veventq") port.nesting?.freeVeventq(o.viommu);
      }
      out.summary = `IOMMU_DESTROY: ${OBJECT_NAMES[o.type]} ${st.id} destroyed`;
      return;
    }
  }
}

/** What each object type is called in summaries, and with its article. */
const OBJECT_NAMES: Record<IommufdObject["type"], string> = { ioas: "IOAS", device: "object", hwpt: "hwpt", fault: "fault object", viommu: "vIOMMU", vdevice: "vDEVICE", nested: "nested hwpt", veventq: "vEVENTQ" };
const OBJECT_ARTICLES: Record<IommufdObject["type"], string> = { ioas: "an IOAS", device: "a device", hwpt: "an hwpt", fault: "a fault object", viommu: "a vIOMMU", vdevice: "a vDEVICE", nested: "a nested hwpt", veventq: "a vEVENTQ" };

function objectName(ctx: IommufdContext, id: number | undefined): string {
  const o = id === undefined ? undefined : ctx.objects.get(id);
  return o === undefined ? " (no such object)" : ` (it is ${OBJECT_ARTICLES[o.type]})`;
}

/** A fault group as read() returns it (uapi struct iommu_hwpt_pgfault: flags, dev_id, pasid, grpid, perm, addr, cookie). */
function pgfaultText(r: HostIopf, ctx: IommufdContext, port: IommufdPort): string {
  const dev = [...ctx.objects].find(([, o]) => o.type === "device" && port.rids(o.key).includes(r.rid));
  const flags = ["LAST_PAGE", ...(r.pasid >= 0 ? ["PASID_VALID"] : [])].join("|");
  const perm = [r.perm & 1 ? "READ" : "", r.perm & 2 ? "WRITE" : "", r.perm & 4 ? "EXEC" : "", r.perm & 8 ? "PRIV" : ""].filter(Boolean).join("|");
  return `iommu_hwpt_pgfault { flags ${flags}, dev_id ${dev?.[0] ?? "?"}, pasid ${r.pasid >= 0 ? hex(r.pasid) : 0}, grpid ${r.grpid}, perm ${perm}, addr ${hex(r.addr)}, cookie ${r.cookie} }`;
}

function domainsText(ioas: VfioContainer & { domainIds: readonly number[] }): string {
  const d = ioas.domainIds;
  return d.length === 0 ? "; no domain uses this IOAS yet" : `; domain${d.length === 1 ? "" : "s"} ${d.join(", ")} updated`;
}

/** The (vaddr, length) pieces of the areas that cover [iova, iova + length) without a gap, or undefined. */
function coveringAreas(ioas: IommufdIoas, iova: bigint, length: bigint): { vaddr: bigint; size: bigint }[] | undefined {
  const last = iova + length - 1n;
  const areas = [...ioas.dmas].sort((a, b) => (a.iova < b.iova ? -1 : 1));
  const out: { vaddr: bigint; size: bigint }[] = [];
  let cur = iova;
  for (const a of areas) {
    const aLast = a.iova + a.size - 1n;
    if (aLast < cur) continue;
    if (a.iova > cur) return undefined;
    const end = aLast < last ? aLast : last;
    out.push({ vaddr: a.vaddr + (cur - a.iova), size: end - cur + 1n });
    cur = end + 1n;
    if (cur > last) return out;
  }
  return undefined;
}

/**
 * The vIOMMU ioctls (drivers/iommu/iommufd/viommu.c, eventq.c; v6.15) and read() of a vEVENTQ fd:
 * - IOMMU_VIOMMU_ALLOC (iommufd_viommu_alloc_ioctl): the device (ENOENT), `pt` = hwpt_id must be a
 *   nesting parent hwpt (iommufd_get_hwpt_paging: ENOENT otherwise; !nest_parent -> EINVAL); the
 *   driver's vIOMMU (arm_vsmmu_alloc) holds a reference on the parent.
 * - IOMMU_VDEVICE_ALLOC (iommufd_vdevice_alloc_ioctl): the vIOMMU and the device (ENOENT); a
 *   virt_id the vIOMMU already has -> EEXIST (xa_cmpxchg on viommu->vdevs). Holds a reference on the vIOMMU.
 * - IOMMU_VEVENTQ_ALLOC (iommufd_veventq_alloc): type IOMMU_VEVENTQ_TYPE_ARM_SMMUV3; the vIOMMU
 *   (ENOENT); a second vEVENTQ of the type -> EEXIST; depth 0 -> EINVAL (the scenario refuses it).
 * - IOMMU_VEVENTQ_READ: the VMM's read() of the vEVENTQ fd (iommufd_veventq_fops_read): every
 *   queued vEVENT as struct iommufd_vevent_header { flags, sequence } + struct iommu_vevent_arm_smmuv3.
 */
function viommuStep(port: IommufdPort, ctx: IommufdContext, st: IommufdStep, out: StepOutcome): void {
  const n = port.nesting;
  if (n === undefined) return port.error(out, `${st.ioctl}: vIOMMUs are modelled for SMMUv3 only`);
  const enoent = (what: string) => port.fail(out, "ENOENT", `${st.ioctl} failed: ENOENT (${STRERROR.ENOENT}): ${what}`);
  const viommuOf = (id: number | undefined) => {
    const o = id === undefined ? undefined : ctx.objects.get(id);
    return o?.type === "viommu" ? o : undefined;
  };
  switch (st.ioctl) {
    case "IOMMU_VIOMMU_ALLOC": {
      if (!ctx.device(st.device!)) return enoent(`dev_id: ${st.device} is not bound to this iommufd`);
      const p = ctx.objects.get(st.pt!);
      if (p?.type !== "hwpt") return enoent(`hwpt_id ${st.pt} is not a paging hwpt${objectName(ctx, st.pt)}`);
      if (p.nestParent !== true) return port.fail(out, "EINVAL", `IOMMU_VIOMMU_ALLOC failed: EINVAL (${STRERROR.EINVAL}): hwpt ${st.pt} was not allocated with IOMMU_HWPT_ALLOC_NEST_PARENT`);
      const id = ctx.alloc({ type: "viommu", users: 1, parent: st.pt! });
      const why = n.allocViommu(p.domain, id);
      if (why !== undefined) {
        ctx.objects.delete(id);
        return port.fail(out, "EINVAL", `IOMMU_VIOMMU_ALLOC failed: EINVAL (${STRERROR.EINVAL}): ${why}`);
      }
      p.users++;
      out.summary = `IOMMU_VIOMMU_ALLOC -> vIOMMU ${id} (IOMMU_VIOMMU_TYPE_ARM_SMMUV3) on nesting parent hwpt ${st.pt} (domain ${domainName(p.domain)})`;
      return;
    }
    case "IOMMU_VDEVICE_ALLOC": {
      const v = viommuOf(st.viommu);
      if (v === undefined) return enoent(`viommu_id ${st.viommu} is not a vIOMMU${objectName(ctx, st.viommu)}`);
      if (!ctx.device(st.device!)) return enoent(`dev_id: ${st.device} is not bound to this iommufd`);
      const taken = [...ctx.objects.values()].some((o) => o.type === "vdevice" && o.viommu === st.viommu && o.virtId === st.virtId);
      if (taken) return port.fail(out, "EEXIST", `IOMMU_VDEVICE_ALLOC failed: EEXIST (${STRERROR.EEXIST}): vIOMMU ${st.viommu} already has virt_id ${hex(st.virtId!)}`);
      const id = ctx.alloc({ type: "vdevice", users: 1, viommu: st.viommu!, key: st.device!, virtId: st.virtId! });
      v.users++;
      n.allocVdevice(st.viommu!, port.rids(st.device!), st.virtId!);
      out.summary = `IOMMU_VDEVICE_ALLOC -> vDEVICE ${id}: ${st.device} is virtual StreamID ${hex(st.virtId!)} on vIOMMU ${st.viommu} (events of a nested domain reach the VMM with this vSID)`;
      return;
    }
    case "IOMMU_VEVENTQ_ALLOC": {
      const v = viommuOf(st.viommu);
      if (v === undefined) return enoent(`viommu_id ${st.viommu} is not a vIOMMU${objectName(ctx, st.viommu)}`);
      const why = n.allocVeventq(st.viommu!, st.depth!);
      if (why !== undefined) return port.fail(out, "EEXIST", `IOMMU_VEVENTQ_ALLOC failed: EEXIST (${STRERROR.EEXIST}): ${why}`);
      const id = ctx.alloc({ type: "veventq", users: 1, viommu: st.viommu!, depth: st.depth! });
      v.users++;
      out.summary = `IOMMU_VEVENTQ_ALLOC -> vEVENTQ ${id} and its fd: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 events of vIOMMU ${st.viommu}, at most ${st.depth} queued`;
      return;
    }
    case "IOMMU_HWPT_INVALIDATE": {
      // iommufd_hwpt_invalidate (hw_pagetable.c): hwpt_id a vIOMMU -> viommu->ops->cache_invalidate
      // (arm_vsmmu_cache_invalidate, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3); a nested hwpt ->
      // domain->ops->cache_invalidate_user, which arm-smmu-v3's nested domain does not have
      // (arm_smmu_nested_ops: attach_dev and free only) -> -EOPNOTSUPP; any other object -> -EINVAL.
      const o = st.id === undefined ? undefined : ctx.objects.get(st.id);
      if (o === undefined) return enoent(`hwpt_id ${st.id} is no object`);
      if (o.type === "nested") return port.fail(out, "EOPNOTSUPP", `IOMMU_HWPT_INVALIDATE failed: EOPNOTSUPP (${STRERROR.EOPNOTSUPP}): nested hwpt ${st.id} has no cache_invalidate_user on SMMUv3: give the vIOMMU (${o.viommu}) as hwpt_id (IOMMU_VIOMMU_INVALIDATE)`);
      if (o.type !== "viommu") return port.fail(out, "EINVAL", `IOMMU_HWPT_INVALIDATE failed: EINVAL (${STRERROR.EINVAL}): hwpt_id ${st.id}${objectName(ctx, st.id)} is neither a nested hwpt nor a vIOMMU`);
      const cmds = st.cmds ?? [];
      const r = n.invalidate(st.id!, cmds);
      const word = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;
      const sent = r.issued.map(([w0, w1]) => `${n.commandName(w0)} { ${word(w0)}, ${word(w1)} }`).join(", ");
      if (r.refused !== undefined) {
        return port.fail(out, "EIO", `IOMMU_HWPT_INVALIDATE failed: EIO (${STRERROR.EIO}): entry ${r.refused.index} (${n.commandName(cmds[r.refused.index]![0])}): ${r.refused.why}; entry_num ${r.handled} of ${cmds.length}${sent ? `; issued before it: ${sent}` : "; nothing issued"}`);
      }
      out.summary = `IOMMU_HWPT_INVALIDATE on vIOMMU ${st.id} (IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_num ${r.handled}): the host's command queue got ${sent}, with CMD_SYNC`;
      return;
    }
    case "IOMMU_VEVENTQ_READ": {
      const q = st.veventq === undefined ? undefined : ctx.objects.get(st.veventq);
      if (q?.type !== "veventq") return enoent(`${st.veventq} is not a vEVENTQ${objectName(ctx, st.veventq)}`);
      const events = n.readVeventq(q.viommu);
      out.summary = events.length === 0 ? `read(vEVENTQ fd ${st.veventq}): nothing queued (read() would block)` : `read(vEVENTQ fd ${st.veventq}): ${events.map(veventText).join("; ")}`;
      // QEMU's accelerated vSMMUv3 (hw/arm/smmuv3-accel.c smmuv3_accel_event_read, Shameer Kolothum's
      // vEVENTQ patch): one read() of header + struct iommu_vevent_arm_smmuv3 (40 bytes) per event;
      // a lone lost-events header reads 8 bytes: "vEVENTQ: incomplete read (%zd/%zd bytes)"; an
      // event whose sequence is not the last + 1 (0 after INT_MAX): "vEVENTQ: detected lost %u
      // event(s)"; each whole event goes to the guest's event queue (smmuv3_propagate_event),
      // whose driver prints it (HostNesting.guestEvent).
      let injected = 0;
      for (const e of events) {
        if (e.lost) {
          port.vmmLog(st.vm, "vEVENTQ: incomplete read (8/40 bytes)");
          continue;
        }
        if (q.lastSeq !== undefined) {
          const expected = q.lastSeq === 0x7fffffff ? 0 : q.lastSeq + 1;
          if (e.sequence !== expected) {
            const delta = e.sequence >= q.lastSeq ? e.sequence - q.lastSeq : 0x7fffffff - q.lastSeq + e.sequence + 1;
            port.vmmLog(st.vm, `vEVENTQ: detected lost ${delta - 1} event(s)`);
          }
        }
        q.lastSeq = e.sequence;
        for (const line of n.guestEvent(e.record)) port.guestLog(st.vm, line);
        injected++;
      }
      if (injected > 0) out.summary += `; QEMU put ${injected === 1 ? "the event" : `${injected} events`} in the guest's event queue (smmuv3_propagate_event): the guest's arm-smmu-v3 prints ${injected === 1 ? "it" : "them"}`;
      return;
    }
  }
}

/** One vEVENT as the VMM reads it: the header, then the record (uapi struct iommu_vevent_arm_smmuv3). */
function veventText(e: HostVEvent): string {
  if (e.lost) return `iommufd_vevent_header { flags IOMMU_VEVENTQ_FLAG_LOST_EVENTS, sequence ${e.sequence} } (events were lost: the queue was full)`;
  const q = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;
  return `iommufd_vevent_header { flags 0, sequence ${e.sequence} } + evt { ${e.record.map(q).join(", ")} } (event 0x${(e.record[0]! & 0xffn).toString(16).padStart(2, "0")}, vSID ${hex(e.record[0]! >> 32n)})`;
}

/**
 * IOMMU_HWPT_ALLOC with pt_id = a vIOMMU and IOMMU_HWPT_DATA_ARM_SMMUV3 (iommufd_hwpt_nested_alloc
 * -> arm_vsmmu_alloc_domain_nested): the vSTE is checked (arm_smmu_validate_vste: EIO for bits
 * outside the nesting-allowed masks, a bad Config or EATS) and kept; the nested hwpt holds a
 * reference on the vIOMMU.
 */
function nestedHwptAlloc(port: IommufdPort, ctx: IommufdContext, st: IommufdStep, out: StepOutcome): void {
  if (port.nesting === undefined) return port.error(out, `IOMMU_HWPT_ALLOC with a vSTE: nesting is modelled for SMMUv3 only`);
  const v = st.pt === undefined ? undefined : ctx.objects.get(st.pt);
  if (v?.type !== "viommu") return port.fail(out, "EINVAL", `IOMMU_HWPT_ALLOC failed: EINVAL (${STRERROR.EINVAL}): a vSTE (IOMMU_HWPT_DATA_ARM_SMMUV3) needs pt_id = a vIOMMU; ${st.pt}${objectName(ctx, st.pt)}`);
  const r = port.nesting.checkNested(st.vste!);
  if (typeof r === "string") return port.fail(out, "EIO", `IOMMU_HWPT_ALLOC failed: EIO (${STRERROR.EIO}): ${r} (arm_smmu_validate_vste)`);
  const id = ctx.alloc({ type: "nested", users: 1, viommu: st.pt!, vste: r.data, ats: r.ats });
  v.users++;
  const cfg = Number((r.data[0] >> 1n) & 7n);
  const what = (r.data[0] & 1n) === 0n ? "a non-valid vSTE (zeroed: the STE will abort)" : cfg === 5 ? `S1 translate, the guest's CD table at IPA 0x${(r.data[0] & 0x000fffffffffffc0n).toString(16)}` : cfg === 4 ? "bypass (stage 2 only)" : "abort";
  out.summary = `IOMMU_HWPT_ALLOC -> nested hwpt ${id} on vIOMMU ${st.pt}: vSTE ${what}; not attached`;
}

/** VFIO_DEVICE_ATTACH_IOMMUFD_PT to a nested hwpt: the group's STEs made from the vSTE over the vIOMMU's parent. */
function attachNested(port: IommufdPort, ctx: IommufdContext, st: IommufdStep, dev: [number, Extract<IommufdObject, { type: "device" }>], out: StepOutcome): void {
  const nested = ctx.objects.get(st.pt!) as Extract<IommufdObject, { type: "nested" }>;
  const rids = port.rids(st.device!);
  port.nesting!.attachNested(nested.viommu, nested.vste, nested.ats, rids);
  const prev = ctx.objects.get(dev[1].hwpt);
  if (prev !== undefined && dev[1].hwpt !== st.pt) prev.users--;
  if (dev[1].hwpt !== st.pt) nested.users++;
  dev[1].hwpt = st.pt!;
  const vdev = [...ctx.objects.values()].find((o): o is Extract<IommufdObject, { type: "vdevice" }> => o.type === "vdevice" && o.viommu === nested.viommu && o.key === st.device);
  out.summary = `VFIO_DEVICE_ATTACH_IOMMUFD_PT: ${st.device} now translates through nested hwpt ${st.pt} (its STE made from the vSTE over vIOMMU ${nested.viommu}'s stage 2)${vdev !== undefined ? `; its events go to the vIOMMU as vSID ${hex(vdev.virtId)}` : "; no vDEVICE yet: its events stay with the host"}`;
  out.summary += port.nestedAttached?.(st.vm, st.device!, nested.vste) ?? "";
}

/** The nested hwpt `key` is attached to, its vIOMMU and vSTE, and the device's vSID there (a vDEVICE), or undefined. */
export function nestedAttachment(ctx: IommufdContext | undefined, key: string): { hwpt: number; viommu: number; vste: readonly [bigint, bigint]; vsid?: number } | undefined {
  const dev = ctx?.device(key);
  if (ctx === undefined || dev === undefined) return undefined;
  const o = ctx.objects.get(dev[1].hwpt);
  if (o?.type !== "nested") return undefined;
  const vdev = [...ctx.objects.values()].find((x): x is Extract<IommufdObject, { type: "vdevice" }> => x.type === "vdevice" && x.viommu === o.viommu && x.key === key);
  return { hwpt: dev[1].hwpt, viommu: o.viommu, vste: o.vste, ...(vdev !== undefined ? { vsid: vdev.virtId } : {}) };
}

/**
 * One iommufd object as the views show it: the object graph of a VM's iommufd context, each object
 * under the one it refers to (iommufd's own references: an hwpt to its IOAS, a vIOMMU to its
 * nesting parent hwpt, a nested hwpt / vDEVICE / vEVENTQ to its vIOMMU, a device to the hwpt it is
 * attached to). So a nested configuration reads parent (stage-2) hwpt -> vIOMMU -> nested
 * (stage-1) hwpt -> the devices attached to it. Built here from the model's table, never in a view.
 */
export interface IommufdObjectNode {
  /** The object id (iommufd's xarray index). */
  id: number;
  type: IommufdObject["type"];
  /** "IOAS 1", "hwpt 4", "vIOMMU 5", "nested hwpt 7", "device 01:00.0", ... */
  label: string;
  /** What the object is and holds: its domain, mappings, the vSTE, the virtual id. */
  description: string;
  children: IommufdObjectNode[];
}

/** The VM's iommufd objects as a forest: IOASes (with what refers to them) and fault objects at the top. */
export function iommufdObjectTree(ctx: IommufdContext): IommufdObjectNode[] {
  const all = [...ctx.objects.entries()].sort((a, b) => a[0] - b[0]);
  const node = (id: number, o: IommufdObject): IommufdObjectNode => ({ id, type: o.type, label: objectLabel(id, o), description: objectDescription(o), children: childrenOf(id, o) });
  const childrenOf = (id: number, o: IommufdObject): IommufdObjectNode[] => {
    const under = (pred: (c: IommufdObject) => boolean) => all.filter(([, c]) => pred(c)).map(([cid, c]) => node(cid, c));
    switch (o.type) {
      case "ioas":
        return under((c) => c.type === "hwpt" && c.ioas === id);
      case "hwpt":
      case "nested":
        // Devices attached here; a nesting parent also carries the vIOMMUs built on it.
        return [...under((c) => c.type === "device" && c.hwpt === id), ...under((c) => c.type === "viommu" && c.parent === id)];
      case "viommu":
        return under((c) => (c.type === "nested" || c.type === "vdevice" || c.type === "veventq") && c.viommu === id);
      default:
        return [];
    }
  };
  const attached = new Set(all.filter(([, o]) => o.type === "hwpt" || o.type === "nested").map(([id]) => id));
  return all.filter(([, o]) => o.type === "ioas" || o.type === "fault" || (o.type === "device" && !attached.has(o.hwpt))).map(([id, o]) => node(id, o));
}

/**
 * The object table of a running iommufd VM: its context, or - before any `iommufd:` step made one -
 * the objects QEMU's start created (IOAS 1, the devices, the automatic hwpt), as runIommufdStep
 * would build them. Undefined: not an iommufd VM with an IOAS.
 */
export function iommufdObjectsOf(vm: { iommufd?: IommufdContext; container?: unknown; devices: string[]; domain?: HostDomain }): IommufdContext | undefined {
  if (!(vm.container instanceof IommufdIoas)) return undefined;
  if (vm.iommufd !== undefined && vm.iommufd.first === vm.container) return vm.iommufd;
  return new IommufdContext(vm.container, vm.devices, vm.domain);
}

function objectLabel(id: number, o: IommufdObject): string {
  return o.type === "device" ? `device ${id} (${o.key})` : o.type === "vdevice" ? `vDEVICE ${id} (${o.key})` : `${OBJECT_NAMES[o.type]} ${id}`;
}

function objectDescription(o: IommufdObject): string {
  switch (o.type) {
    case "ioas":
      return `${o.ioas.dmas.length} mapping${o.ioas.dmas.length === 1 ? "" : "s"}`;
    case "hwpt":
      return `${o.nestParent === true ? "nesting parent (stage 2), " : ""}domain ${domainName(o.domain)}${o.auto ? ", automatic" : ""}${o.fault !== undefined ? `, faults to object ${o.fault}` : ""}`;
    case "nested":
      return `stage 1 over the vIOMMU's parent: vSTE ${hex(o.vste[0])} ${hex(o.vste[1])}${o.ats ? ", ATS" : ""}`;
    case "viommu":
      return `on nesting parent hwpt ${o.parent}`;
    case "vdevice":
      return `virtual id ${hex(o.virtId)}`;
    case "veventq":
      return `depth ${o.depth}`;
    case "device":
      return o.hwpt === 0 ? "bound, not attached" : `bound, attached to hwpt ${o.hwpt}`;
    case "fault":
      return "fault object (IOMMU_FAULT_QUEUE_ALLOC)";
  }
}
