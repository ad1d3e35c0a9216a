// Every fault reason the scalable-mode walk raises, one case each, against the VT-d spec's table of
// scalable-mode fault conditions (§7.1.3 Table 26: SRT.x root, SCT.x context, SPD.x PASID
// directory, SPT.x PASID table, SFS/SFL.x first level, SSS/SSL.x second level, SGN.x generic).
// Each case starts from a working translation, changes one thing in simulated memory the way a
// buggy driver would (the entry's address comes from the walk trail), and checks the code the
// unit records and the trail's stop. The second-level cases pin the hardware's order, which QEMU's
// emulation does not follow (it reports 0x05/0x06 and stops at the first entry without the bit).
import { describe, expect, it } from "vitest";
import { bootedUnit } from "./helpers.js";
import { vtdUnit } from "../../src/sim/vtd/model.js";
import { PGTT_FL, PGTT_NESTED, PGTT_PT, PGTT_SL } from "../../src/sim/vtd/scalable.js";
import type { TranslateRequest } from "../../src/sim/iommu.js";
import { dmarGetFaultReason } from "../../src/sim/vtd/reasons.js";

const SID = 0x0100;
/** Beyond the simulated DRAM (16 GiB) but below HAW: reading it is a read error. */
const UNREADABLE = 0x8_0000_0000n;

/**
 * 01:00.0 in scalable mode: RID_PASID 0 a first-level DMA domain (Linux's choice), PASID 1 second
 * level (RW, RO and WO pages), PASID 2 first level (SVA: RW, RO, supervisor-only, XD pages; SRE,
 * NXE), PASID 3 nested, PASID 4 pass-through.
 */
function world(haw: 48 | 57 = 48) {
  const u = bootedUnit({ scalable: true, addressWidth: haw, sagaw: [39, 48] });
  const { mem, driver } = u;
  const dom = driver.allocDomain();
  driver.attach(dom, [SID]);
  driver.map(dom, 0x10000000n, 0x2_0000_0000n, 0x1000n, 3);
  const sl = driver.allocDomain(false, true);
  driver.map(sl, 0x7000_0000n, 0x3_0000_0000n, 0x3000n, 3);
  driver.setPasidEntry(SID, 1, PGTT_SL, sl.did, sl.pgd, 0, 4, {});
  const fl = driver.allocPage();
  const put = (va: bigint, v: bigint) => mem.writeU64(driver.entryAddressIn(fl, 4, true, va, 1, true)!, v);
  put(0x7f00_0000_0000n, 0x3_1000_0000n | 0x67n); // P R/W U/S A D
  put(0x7f00_0000_1000n, 0x3_1000_1000n | 0x25n); // read-only
  put(0x7f00_0000_2000n, 0x3_1000_2000n | 0x63n); // supervisor only
  put(0x7f00_0000_3000n, 0x3_1000_3000n | 0x67n | (1n << 63n)); // XD
  driver.setPasidEntry(SID, 2, PGTT_FL, driver.allocDid(), 0, fl, 4, { sre: true });
  const parent = driver.allocDomain(false, true);
  driver.map(parent, 0x10000000n, 0x10000000n, 0x1000000n, 3); // the table pool, identity
  driver.map(parent, 0x8000_0000n, 0x3_3000_0000n, 0x1000n, 3);
  const g = driver.allocPage();
  mem.writeU64(driver.entryAddressIn(g, 4, true, 0x5000_0000n, 1, true)!, 0x8000_0000n | 0x67n);
  mem.writeU64(driver.entryAddressIn(g, 4, true, 0x5000_1000n, 1, true)!, 0x9000_0000n | 0x67n); // GPA not in the parent
  driver.setPasidEntry(SID, 3, PGTT_NESTED, driver.allocDid(), parent.pgd, g, 4, {});
  driver.setPasidEntry(SID, 4, PGTT_PT, driver.allocDid(), 0, 0, 4, {});
  const iommu = vtdUnit(u.unit, u.driver);
  /** Address of a structure the walk of `req` reads (by the trail's name, the last one of that name with `last`). */
  const at = (req: TranslateRequest, name: string, last = false): number => {
    const es = iommu.explain(req).trail.entries.filter((e) => e.name === name);
    const e = last ? es.at(-1) : es[0];
    if (e === undefined) throw new Error(`no ${name} on the walk`);
    return Number(e.address);
  };
  const set = (addr: number, f: (v: bigint) => bigint) => mem.writeU64(addr, f(mem.readU64(addr)!));
  return { ...u, iommu, at, set, sl };
}
type World = ReturnType<typeof world>;

const R = (pasid: number | undefined, iova: bigint, write = false, more: Partial<TranslateRequest> = {}): TranslateRequest => ({ sid: SID, ...(pasid === undefined ? {} : { pasid }), iova, write, ...more });
const noPasid = R(undefined, 0x10000000n);
const slReq = R(1, 0x7000_0000n);
const flReq = R(2, 0x7f00_0000_0000n);
const nestReq = R(3, 0x5000_0000n);

interface Case {
  code: number;
  /** Table 26's condition, as the test's title. */
  spec: string;
  /** A 57-bit unit whose second-level tables are 48-bit: first-level addresses can exceed the second level's width. */
  wide?: boolean;
  break?: (w: World) => void;
  req: TranslateRequest;
  cause?: string;
}

const CASES: Case[] = [
  { code: 0x38, spec: "SRT.1 root entry access error", break: (w) => (w.unit.rootTable = Number(UNREADABLE)), req: noPasid, cause: "unreadable" },
  { code: 0x39, spec: "SRT.2 root entry (LP for devfn < 0x80) not present", break: (w) => w.set(w.at(noPasid, "scalable-mode root entry"), (v) => v & ~1n), req: noPasid, cause: "not-present" },
  { code: 0x3a, spec: "SRT.3 reserved field in a present root entry", break: (w) => w.set(w.at(noPasid, "scalable-mode root entry"), (v) => v | 0x10n), req: noPasid, cause: "reserved" },
  { code: 0x40, spec: "SCT.1 context entry access error", break: (w) => w.set(w.at(noPasid, "scalable-mode root entry"), () => UNREADABLE | 1n), req: noPasid, cause: "unreadable" },
  { code: 0x41, spec: "SCT.2 context entry not present", break: (w) => w.set(w.at(noPasid, "scalable-mode context entry"), (v) => v & ~1n), req: noPasid, cause: "not-present" },
  { code: 0x42, spec: "SCT.3 reserved field in a present context entry", break: (w) => w.set(w.at(noPasid, "scalable-mode context entry") + 16, () => 1n), req: noPasid, cause: "reserved" },
  { code: 0x43, spec: "SCT.4 invalid context entry: RID_PASID beyond the PASID directory (PDTS)", break: (w) => w.set(w.at(noPasid, "scalable-mode context entry") + 8, (v) => v | 0xfffffn), req: noPasid, cause: "invalid" },
  { code: 0x45, spec: "SCT.6 request with PASID, PASIDE = 0", break: (w) => w.set(w.at(noPasid, "scalable-mode context entry"), (v) => v & ~8n), req: flReq, cause: "invalid" },
  { code: 0x46, spec: "SCT.7 the request's PASID beyond the PASID directory (PDTS)", break: (w) => w.set(w.at(noPasid, "scalable-mode context entry"), (v) => v & ~0xe00n), req: R(0x10000, 0x1000n), cause: "invalid" },
  { code: 0x50, spec: "SPD.1 PASID directory access error", break: (w) => w.set(w.at(noPasid, "scalable-mode context entry"), (v) => (v & 0xfffn) | UNREADABLE), req: noPasid, cause: "unreadable" },
  { code: 0x51, spec: "SPD.2 PASID directory entry not present", break: (w) => w.set(w.at(flReq, "PASID directory entry"), (v) => v & ~1n), req: flReq, cause: "not-present" },
  { code: 0x52, spec: "SPD.3 reserved field in a present PASID directory entry", break: (w) => w.set(w.at(flReq, "PASID directory entry"), (v) => v | 4n), req: flReq, cause: "reserved" },
  { code: 0x58, spec: "SPT.1 PASID table access error", break: (w) => w.set(w.at(flReq, "PASID directory entry"), () => UNREADABLE | 1n), req: flReq, cause: "unreadable" },
  { code: 0x59, spec: "SPT.2 PASID table entry not present", req: R(5, 0x1000n), cause: "not-present" },
  { code: 0x5a, spec: "SPT.3 reserved field in a present PASID table entry", break: (w) => w.set(w.at(flReq, "PASID table entry") + 24, () => 1n), req: flReq, cause: "reserved" },
  { code: 0x5b, spec: "SPT.4 invalid PASID table entry (PGTT 000)", break: (w) => w.set(w.at(flReq, "PASID table entry"), (v) => v & ~0x1c0n), req: flReq, cause: "invalid" },
  { code: 0x5c, spec: "SPT.5 execute request, ERE = 0", req: R(2, 0x7f00_0000_0000n, false, { exec: true }), cause: "permission" },
  { code: 0x5d, spec: "SPT.6 supervisor request, SRE = 0", break: (w) => w.set(w.at(flReq, "PASID table entry") + 16, (v) => v & ~1n), req: R(2, 0x7f00_0000_0000n, false, { privileged: true }), cause: "permission" },
  { code: 0x70, spec: "SFL.1 first-level entry access error (below the top)", break: (w) => w.set(w.at(flReq, "FL-PML4E"), (v) => (v & 0xfffn) | UNREADABLE), req: flReq, cause: "unreadable" },
  { code: 0x71, spec: "SFL.2 first-level entry not present", req: R(2, 0x7f00_0000_8000n), cause: "not-present" },
  { code: 0x72, spec: "SFL.3 reserved field in a present first-level entry", break: (w) => w.set(w.at(flReq, "FL-PML4E"), (v) => v | 0x80n), req: flReq, cause: "reserved" },
  { code: 0x73, spec: "SFL.4 FL-PML4 access error (FLPTPTR)", break: (w) => w.set(w.at(flReq, "PASID table entry") + 16, (v) => (v & 0xfffn) | UNREADABLE), req: flReq, cause: "unreadable" },
  { code: 0x74, spec: "nested: first-level table address beyond the second level's width", wide: true, break: (w) => w.set(w.at(nestReq, "FL-PML4E"), (v) => (v & 0xfffn) | (1n << 50n)), req: nestReq, cause: "address-width" },
  { code: 0x75, spec: "nested: FL-PML4 not readable through the second level", break: (w) => w.set(w.at(nestReq, "SL-PDE"), () => 0n), req: nestReq, cause: "not-present" },
  { code: 0x76, spec: "nested: lower first-level table not readable through the second level", break: (w) => w.set(w.at(nestReq, "FL-PML4E"), (v) => (v & 0xfffn) | 0xa000_0000n), req: nestReq, cause: "not-present" },
  { code: 0x78, spec: "SSS.1 second-level entry access error (below the top)", break: (w) => w.set(w.at(slReq, "SL-PML4E"), (v) => (v & 0xfffn) | UNREADABLE), req: slReq, cause: "unreadable" },
  { code: 0x79, spec: "SSS.2 second-level entry not present (R = W = 0)", req: R(1, 0x7000_8000n), cause: "not-present" },
  { code: 0x7a, spec: "SSS.3 reserved field in a present second-level entry", break: (w) => w.set(w.at(slReq, "SL-PTE"), (v) => v | 0x800n), req: slReq, cause: "reserved" },
  { code: 0x7b, spec: "SSS.4 SLPTPTR access error", break: (w) => w.set(w.at(slReq, "PASID table entry"), (v) => (v & 0xfffn) | UNREADABLE), req: slReq, cause: "unreadable" },
  { code: 0x80, spec: "SGN.1 first-level input address not canonical", req: R(2, 0x8000_0000_0000n), cause: "address-width" },
  { code: 0x81, spec: "SGN.2 user request, U/S = 0", req: R(2, 0x7f00_0000_2000n), cause: "permission" },
  { code: 0x82, spec: "SGN.3 execute request, XD = 1", break: (w) => w.set(w.at(flReq, "PASID table entry") + 16, (v) => v | 0x22n), req: R(2, 0x7f00_0000_3000n, false, { exec: true }), cause: "permission" },
  { code: 0x83, spec: "SGN.4 input address above HAW (pass-through)", req: R(4, 1n << 50n), cause: "address-width" },
  { code: 0x84, spec: "SGN.5 second-level input above min(MGAW, AGAW)", req: R(1, 1n << 50n), cause: "address-width" },
  { code: 0x85, spec: "SGN.6 write, first-level R/W = 0", req: R(2, 0x7f00_0000_1000n, true), cause: "permission" },
  { code: 0x85, spec: "SGN.6 write, second-level W = 0 in a present entry", break: (w) => w.set(w.at(slReq, "SL-PTE"), (v) => v & ~2n), req: R(1, 0x7000_0000n, true), cause: "permission" },
  { code: 0x86, spec: "SGN.7 read, second-level R = 0 in a present entry", break: (w) => w.set(w.at(slReq, "SL-PTE"), (v) => (v & ~1n) | 2n), req: slReq, cause: "permission" },
  { code: 0x84, spec: "SGN.5 nested: the first-level output beyond the second level's width", wide: true, break: (w) => w.set(w.at(nestReq, "FL-PTE"), (v) => (v & 0xfffn) | (1n << 50n)), req: nestReq, cause: "address-width" },
  { code: 0x87, spec: "SGN.8 output in the interrupt address range", break: (w) => w.driver.map(w.sl, 0x7010_0000n, 0xfee0_0000n, 0x1000n, 3), req: R(1, 0x7010_0000n), cause: "interrupt-range" },
];

describe("scalable-mode fault reasons (VT-d §7.1.3 Table 26)", () => {
  for (const c of CASES) {
    it(`0x${c.code.toString(16)}: ${c.spec}`, () => {
      const w = world(c.wide ? 57 : 48);
      c.break?.(w);
      const t = w.iommu.explain(c.req);
      expect(t.verdict, c.spec).toMatchObject({ kind: "fault", reason: c.code });
      if (c.cause) expect(t.trail.stop?.cause).toBe(c.cause);
      // The DMA path (caches, the WebAssembly core) records the same code; Linux has a text for it.
      expect(w.iommu.translate(c.req)).toMatchObject({ kind: "fault", reason: c.code });
      expect(dmarGetFaultReason(c.code).text).toMatch(/^SM: /);
    });
  }

  it("0x31: a request with PASID on a legacy-mode root table (TTM 00)", () => {
    const u = bootedUnit();
    const d = u.driver.allocDomain();
    u.driver.attach(d, [SID]);
    expect(vtdUnit(u.unit, u.driver).translate(R(1, 0x1000n))).toMatchObject({ kind: "fault", reason: 0x31 });
  });
});

describe("the second level in the hardware's order, not QEMU's", () => {
  it("a present entry without W does not stop the walk: the not-present entry below it decides (0x79)", () => {
    const w = world();
    w.set(w.at(slReq, "SL-PDE"), (v) => v & ~2n); // read-only directory
    const req = R(1, 0x7000_8000n, true); // its PTE is not present
    expect(w.iommu.explain(req).trail.stop).toMatchObject({ reason: 0x79, cause: "not-present", why: "SL-PTE not present (R = W = 0)" });
    expect(w.iommu.translate(req)).toMatchObject({ reason: 0x79 });
  });

  it("R and W ANDed down to 0 is not present (0x79), though no entry is", () => {
    const w = world();
    w.set(w.at(slReq, "SL-PDE"), (v) => (v & ~3n) | 1n); // R only
    w.set(w.at(slReq, "SL-PTE"), (v) => (v & ~3n) | 2n); // W only
    for (const write of [false, true]) expect(w.iommu.translate(R(1, 0x7000_0000n, write))).toMatchObject({ reason: 0x79 });
  });

  it("a write through a read-only directory to a writable page is 0x85 at the leaf, naming the entry without W", () => {
    const w = world();
    w.set(w.at(slReq, "SL-PDPE"), (v) => v & ~2n);
    const req = R(1, 0x7000_0000n, true);
    const t = w.iommu.explain(req);
    expect(t.verdict).toMatchObject({ reason: 0x85, level: 1 });
    expect(t.trail.stop).toMatchObject({ cause: "permission", why: "write request, W = 0 in the SL-PDPE" });
    expect(w.iommu.translate(R(1, 0x7000_0000n))).toMatchObject({ kind: "translated" }); // reads still work, and fill the IOTLB
    expect(w.iommu.translate(req)).toMatchObject({ kind: "fault", reason: 0x85, cached: true }); // from the IOTLB: SGN.6 as well
  });

  it("reserved bits in a present entry the request lacks the bit for are 0x7a (QEMU: 0x05 first)", () => {
    const w = world();
    w.set(w.at(slReq, "SL-PTE"), (v) => (v & ~2n) | 0x800n);
    expect(w.iommu.translate(R(1, 0x7000_0000n, true))).toMatchObject({ reason: 0x7a });
  });
});
