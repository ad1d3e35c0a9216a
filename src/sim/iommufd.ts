/**
 * The iommufd backend (/dev/iommu with VFIO device cdevs) beside the type1 container: one IOAS
 * (IOMMU_IOAS_ALLOC) per VM, its devices bound (VFIO_DEVICE_BIND_IOMMUFD) and attached to it
 * (VFIO_DEVICE_ATTACH_IOMMUFD_PT with pt_id = the IOAS: the kernel allocates an automatic hwpt, a
 * paging domain, and attaches the device's group to it), and IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP
 * with iommufd's own rules and errno, which differ from type1's (sim/vfio.ts):
 *
 * IOMMU_IOAS_MAP - drivers/iommu/iommufd/ioas.c iommufd_ioas_map(), then io_pagetable.c
 * iopt_map_user_pages() -> iopt_map_pages() -> iopt_alloc_area_pages() -> iopt_check_iova() ->
 * iopt_insert_area() -> iopt_fill_domains_pages() (pinning and accounting, pages.c):
 *   1. `cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX` -> -EOVERFLOW
 *   2. neither IOMMU_IOAS_MAP_WRITEABLE nor _READABLE -> -EINVAL
 *   3. `(length & (iopt->iova_alignment - 1)) || !length` -> -EINVAL (iopt_alloc_area_pages)
 *   4. iopt_check_iova(): `iova & (iova_alignment - 1)` -> -EINVAL; iova + length - 1 overflows ->
 *      -EOVERFLOW; a reserved IOVA intersects (the MSI window, IOVA outside the domain's aperture:
 *      reserved regions of the attached devices) -> -EINVAL; *then* an existing area intersects ->
 *      -EEXIST. (type1 checks the overlap first: the same request gets EEXIST there.)
 *   5. iopt_insert_area(): `area->page_offset & (iova_alignment - 1)` (the user VA) -> -EINVAL
 *   6. pinning: an unbacked user VA -> -EFAULT; RLIMIT_MEMLOCK -> -ENOMEM *without* a kernel
 *      message (type1 prints "vfio_pin_pages_remote: RLIMIT_MEMLOCK (%ld) exceeded"). Accounting
 *      (pages.c iopt_pages_update_pinned) is per iopt_pages - one per IOMMU_IOAS_MAP, shared by
 *      IOMMU_IOAS_COPY - against the calling task's RLIMIT_MEMLOCK, on the counter
 *      IOMMU_OPTION_RLIMIT_MODE chose for the iommufd (ioas.c iommufd_option_rlimit_mode):
 *        0, IOPT_PAGES_ACCOUNT_USER (the default): incr_user_locked_vm(), the *user's* locked_vm,
 *           which every process of that user charges (all QEMUs of one user share it);
 *        1, IOPT_PAGES_ACCOUNT_MM: update_mm_locked_vm() -> __account_locked_vm(), the process's
 *           mm->locked_vm, as type1 does. libvirt sets 1 on the /dev/iommu it opens for QEMU
 *           (libvirt src/util/viriommufd.c virIOMMUFDOpenDevice -> virIOMMUFDSetRLimitMode(fd,
 *           true)); setting it needs CAP_SYS_RESOURCE (EPERM) and an empty iommufd (EBUSY).
 *      Two IOASes that each IOMMU_IOAS_MAP the same RAM are charged twice under both modes; an
 *      IOMMU_IOAS_COPY of it is charged once. No CAP_IPC_LOCK bypass in this model beyond
 *      "unlimited".
 *   No dma_entry_limit: iommufd never answers ENOSPC for a fixed-IOVA map.
 * IOMMU_IOAS_UNMAP - iommufd_ioas_unmap() and io_pagetable.c iopt_unmap_iova()/
 * iopt_unmap_iova_range():
 *   - iova 0, length U64_MAX: iopt_unmap_all() (ENOENT on an empty IOAS counts as success);
 *   - `cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX` -> -EOVERFLOW; `!length` -> -EINVAL;
 *   - areas are removed lowest first; one that is not wholly inside [iova, last]
 *     (`area_first < start || area_last > last`) stops the loop with -ENOENT - the areas removed
 *     before it stay removed; nothing unmapped at all -> -ENOENT (`int rc = -ENOENT; ...
 *     if (unmapped_bytes) rc = 0;`). No alignment rule (type1: EINVAL for an unaligned range or one
 *     that bisects a mapping, and 0 bytes for an empty range).
 * QEMU (backends/iommufd.c iommufd_backend_map_dma/unmap_dma): a failed map prints
 * error_report("IOMMU_IOAS_MAP failed: %m") (warn_report("IOMMU_IOAS_MAP failed: %m, PCI BAR?") for
 * EFAULT); an unmap's ENOENT is taken as success ("IOMMUFD takes mapping as some kind of object ...
 * treat them as succeess for IOMMUFD just like legacy backend"), others print
 * error_report("IOMMU_IOAS_UNMAP failed: %m").
 */
import type { VmSpec } from "../scenario/types.js";
import { formatBytes, rlimitMode, type RlimitMode } from "./reserved.js";

export { rlimitMode, type RlimitMode };

/** What IOMMU_IOAS_MAP's RLIMIT_MEMLOCK check saw when it refused with ENOMEM. */
export interface IoasMemlockDenial {
  mode: RlimitMode;
  /** The task's RLIMIT_MEMLOCK, bytes. */
  limit: bigint;
  /** Bytes already on the counter (every IOAS charging it). */
  counted: bigint;
  /** Bytes the refused map would have charged. */
  need: bigint;
}
import { STRERROR, VfioContainer, type Errno, type VfioContainerOptions, type VfioDma, type VfioResult } from "./vfio.js";

/** The map / unmap ioctl a VM's VMM issues. */
export function mapIoctl(vm: VmSpec): string {
  return vm.backend === "iommufd" ? "IOMMU_IOAS_MAP" : "VFIO_IOMMU_MAP_DMA";
}
export function unmapIoctl(vm: VmSpec): string {
  return vm.backend === "iommufd" ? "IOMMU_IOAS_UNMAP" : "VFIO_IOMMU_UNMAP_DMA";
}

/** Deterministic file descriptors QEMU would hold: /dev/iommu, then the device cdev. */
function fds(vmIndex: number): { iommufd: number; device: number } {
  return { iommufd: 20 + 2 * vmIndex, device: 21 + 2 * vmIndex };
}

/**
 * QEMU's error when the kernel refuses VFIO_DEVICE_BIND_IOMMUFD (hw/vfio/iommufd.c
 * iommufd_cdev_connect_and_bind(): error_setg_errno(errp, errno, "error bind device fd=%d to
 * iommufd=%d", ...)). A device whose group is not viable fails there with EBUSY: iommufd_device_bind()
 * claims DMA ownership of the group (iommu_device_claim_dma_owner()), which a host driver holds -
 * no "group N is not viable" with cdevs.
 */
export function iommufdBindFailedText(vmIndex: number, bdf: string): string {
  const f = fds(vmIndex);
  return `vfio ${bdf}: error bind device fd=${f.device} to iommufd=${f.iommufd}: ${STRERROR.EBUSY}`;
}

/** What the iommufd start did, after vmStartText's sentence. */
export function iommufdStartText(ioas: IommufdIoas, devices: number, did: number, mapsGuestRam: boolean): string {
  return ` (iommufd: /dev/iommu opened, IOMMU_IOAS_ALLOC -> IOAS ${ioas.ioasId}, ${devices === 1 ? "the device" : `${devices} devices`} bound with VFIO_DEVICE_BIND_IOMMUFD and attached with VFIO_DEVICE_ATTACH_IOMMUFD_PT to the IOAS: automatic hwpt ${ioas.hwptId} = domain ${did}${mapsGuestRam ? "; guest RAM mapped with IOMMU_IOAS_MAP" : ""})`;
}

const PAGE = 4096n;
const U64_MAX = (1n << 64n) - 1n;
/** ULONG_MAX on a 64-bit kernel. */
const ULONG_MAX = U64_MAX;

/**
 * Why IOMMU_IOAS_MAP answered ENOMEM, after the errno: the counter, what is on it, the limit
 * (pages.c incr_user_locked_vm / update_mm_locked_vm: `new_pages > lock_limit`). "" for a container
 * that is not an IOAS or whose last map was not refused for RLIMIT_MEMLOCK.
 */
export function ioasEnomemText(c: VfioContainer | undefined): string {
  const d = c instanceof IommufdIoas ? c.lastDenial : undefined;
  if (d === undefined) return "";
  const counter = d.mode === "user" ? "the user's locked_vm (IOMMU_OPTION_RLIMIT_MODE 0, the default: every VMM of this user charges it; incr_user_locked_vm)" : "the VMM process's locked_vm (IOMMU_OPTION_RLIMIT_MODE 1; __account_locked_vm)";
  return `: RLIMIT_MEMLOCK ${formatBytes(d.limit)}, and ${counter} already holds ${formatBytes(d.counted)}; this map needs ${formatBytes(d.need)} more (each IOMMU_IOAS_MAP is charged, even of RAM another IOAS maps; IOMMU_IOAS_COPY is not)`;
}

/** QEMU's log line for a failed IOMMU_IOAS_MAP (backends/iommufd.c iommufd_backend_map_dma). */
export function ioasMapFailedLine(errno: Errno): string {
  return errno === "EFAULT" ? `IOMMU_IOAS_MAP failed: ${STRERROR[errno]}, PCI BAR?` : `IOMMU_IOAS_MAP failed: ${STRERROR[errno]}`;
}

/**
 * An IOAS with its automatic hwpt: the mapping list, pinning and domain programming are type1's
 * machinery (VfioContainer: an area is mapped into every attached domain as pinned chunks); the
 * checks in front of it and the unmap rules are iommufd's.
 */
export class IommufdIoas extends VfioContainer {
  /** IOMMU_IOAS_ALLOC's out_ioas_id and the automatic hwpt's id (object ids, in allocation order). */
  ioasId: number;
  readonly hwptId: number;
  private readonly memlock: bigint | undefined;
  private readonly reserved: [bigint, bigint][];
  private readonly apertureEnd: bigint | undefined;
  /** Bytes this IOAS charged to RLIMIT_MEMLOCK (its IOMMU_IOAS_MAP areas; IOMMU_IOAS_COPY areas are not charged again). */
  private chargedBytes = 0n;
  /** IOVAs of the areas IOMMU_IOAS_COPY made (sharing the source's iopt_pages). */
  private shared = new Set<bigint>();
  /** Bytes on the locked_vm counter this IOAS charges, from every IOAS that charges it (default: this one's). */
  private readonly lockedVm: () => bigint;
  readonly rlimitMode: RlimitMode;
  /** The last ENOMEM's accounting, for the step's explanation. */
  lastDenial: IoasMemlockDenial | undefined;

  constructor(opts: VfioContainerOptions & { ioasId?: number; devices?: number; rlimitMode?: RlimitMode; lockedVm?: () => bigint }) {
    // No dma_entry_limit and no type1 memlock check: iommufd's own are applied below.
    const { memlockBytes, ...rest } = opts;
    super({ ...rest, dmaEntryLimit: Number.MAX_SAFE_INTEGER });
    this.memlock = memlockBytes;
    this.reserved = opts.reservedRegions ?? [[0xfee00000n, 0xfeefffffn]];
    this.apertureEnd = opts.apertureEnd;
    this.rlimitMode = opts.rlimitMode ?? "user";
    this.lockedVm = opts.lockedVm ?? (() => this.chargedBytes);
    this.ioasId = opts.ioasId ?? 1;
    // Each device bound adds an object (its idevice) before the hwpt; one device: ioas 1, idev 2, hwpt 3.
    this.hwptId = this.ioasId + 1 + (opts.devices ?? 1);
  }

  /** Bytes this IOAS charged to RLIMIT_MEMLOCK. */
  get charged(): bigint {
    return this.chargedBytes;
  }

  /** The checks IOMMU_IOAS_MAP and IOMMU_IOAS_COPY share (iopt_check_iova, area alignment, EEXIST), in the kernel's order. */
  private checkRange(iova: bigint, size: bigint): Errno | undefined {
    if (size === 0n || size % PAGE !== 0n) return "EINVAL";
    if (iova % PAGE !== 0n) return "EINVAL";
    const last = iova + size - 1n;
    if (last > U64_MAX) return "EOVERFLOW";
    if (this.apertureEnd !== undefined && last > this.apertureEnd) return "EINVAL";
    for (const [s, e] of this.reserved) if (iova <= e && last >= s) return "EINVAL";
    if (this.dmas.some((d) => d.iova <= last && iova < d.iova + d.size)) return "EEXIST";
    return undefined;
  }

  /**
   * IOMMU_IOAS_COPY's iopt_map_pages(): the source's pinned pages, piece by piece from `iova`, after
   * the map's range checks; nothing is charged to RLIMIT_MEMLOCK again (sim/iommufdObjects.ts).
   */
  mapShared(iova: bigint, pieces: readonly { vaddr: bigint; size: bigint }[], length: bigint): VfioResult {
    const bad = this.checkRange(iova, length);
    if (bad !== undefined) return { ok: false, errno: bad, kernelLog: [] };
    let at = iova;
    for (const p of pieces) {
      const r = super.map({ iova: at, vaddr: p.vaddr, size: p.size, read: true, write: true });
      if (!r.ok) return r;
      this.shared.add(at);
      at += p.size;
    }
    return { ok: true };
  }

  /** IOMMU_IOAS_MAP with IOMMU_IOAS_MAP_FIXED_IOVA (QEMU always passes it). */
  override map(req: { iova: bigint; vaddr: bigint; size: bigint; read: boolean; write: boolean }): VfioResult<{ dma: VfioDma }> {
    const { iova, vaddr, size } = req;
    const fail = (errno: Errno): VfioResult<{ dma: VfioDma }> => ({ ok: false, errno, kernelLog: [] });
    if (iova >= ULONG_MAX || size >= ULONG_MAX) return fail("EOVERFLOW");
    if (!req.read && !req.write) return fail("EINVAL");
    this.lastDenial = undefined;
    const bad = this.checkRange(iova, size);
    if (bad !== undefined) return fail(bad);
    if (vaddr % PAGE !== 0n) return fail("EINVAL");
    if (this.memlock !== undefined) {
      const counted = this.lockedVm();
      if (counted + size > this.memlock) {
        this.lastDenial = { mode: this.rlimitMode, limit: this.memlock, counted, need: size };
        return fail("ENOMEM");
      }
    }
    const r = super.map(req);
    if (r.ok) this.chargedBytes += size;
    return r;
  }

  /** IOMMU_IOAS_UNMAP: whole areas inside the range, lowest first; ENOENT where none or one is cut. */
  override unmap(req: { iova: bigint; size: bigint; all?: boolean }): VfioResult<{ unmapped: bigint }> {
    const fail = (errno: Errno): VfioResult<{ unmapped: bigint }> => ({ ok: false, errno, kernelLog: [] });
    if (req.all === true || (req.iova === 0n && req.size === U64_MAX)) {
      this.chargedBytes = 0n;
      this.shared.clear();
      return super.unmap({ iova: 0n, size: 0n, all: true });
    }
    const { iova, size } = req;
    if (iova >= ULONG_MAX || size >= ULONG_MAX) return fail("EOVERFLOW");
    if (size === 0n) return fail("EINVAL");
    const last = iova + size - 1n;
    if (last > U64_MAX) return fail("EOVERFLOW");
    let unmapped = 0n;
    for (const d of [...this.dmas]) {
      if (d.iova > last || d.iova + d.size - 1n < iova) continue;
      // The areas already removed stay removed: the ioctl fails, the caller does not learn how much went.
      if (d.iova < iova || d.iova + d.size - 1n > last) return fail("ENOENT");
      const r = super.unmap({ iova: d.iova, size: d.size });
      if (r.ok) {
        unmapped += r.unmapped;
        if (!this.shared.delete(d.iova)) this.chargedBytes -= d.size;
      }
    }
    return unmapped === 0n ? fail("ENOENT") : { ok: true, unmapped };
  }

  override snapshot(): ReturnType<VfioContainer["snapshot"]> & { shared: bigint[] } {
    return { ...super.snapshot(), shared: [...this.shared] };
  }

  override restore(s: unknown): void {
    super.restore(s);
    this.shared = new Set((s as { shared?: bigint[] }).shared ?? []);
    this.chargedBytes = this.dmas.reduce((sum, d) => (this.shared.has(d.iova) ? sum : sum + d.size), 0n);
  }
}
