import { describe, expect, test } from "vitest";
import { IOMMU_READ, IOMMU_WRITE, cmd } from "../../src/sim/smmuv3/driver.js";
import { ABORT_NO_EVENT, C_BAD_CD, C_BAD_STE, C_BAD_STREAMID, C_BAD_SUBSTREAMID, F_ACCESS, F_ADDR_SIZE, F_PERMISSION, F_STE_FETCH, F_STREAM_DISABLED, F_TRANSLATION, F_WALK_EABT, decodeEvent } from "../../src/sim/smmuv3/spec.js";
import { bootedSmmu } from "./smmuv3-helpers.js";

const RW = IOMMU_READ | IOMMU_WRITE;
const SID = 0x100; // 0000:01:00.0

function s1Setup(over = {}, opts = {}) {
  const s = bootedSmmu(over, opts);
  s.driver.addMaster(SID, "0000:01:00.0");
  const d = s.driver.allocDomain();
  s.driver.attach(d, [SID]);
  return { ...s, d };
}

describe("SMMUv3 stream table (Linux arm_smmu_init_strtab)", () => {
  test("SIDSIZE above STRTAB_SPLIT gives a 2-level table: L1STD[bus] -> 256 STEs; the STE is found through it", () => {
    const { unit, model } = s1Setup();
    expect(unit.strtabFmt).toBe(1);
    expect(unit.strtabSplit).toBe(8);
    const t = model.explain({ sid: SID, iova: 0x1000n, write: false });
    expect(t.trail.entries.map((e) => e.name).slice(0, 3)).toEqual(["L1STD", "STE", "CD"]);
    expect(t.trail.entries[0]!.index).toBe(1);
    // The STE's index in its level-2 table (the devfn), and only the fields its Config uses.
    const ste = t.trail.entries[1]!;
    expect(ste.index).toBe(0);
    expect(ste.fields.map((f) => f.name)).toContain("S1ContextPtr");
    expect(ste.fields.map((f) => f.name)).not.toContain("S2TTB");
  });

  test("SIDSIZE 8 gives a linear table whose unused STEs abort without an event", () => {
    const { unit, model } = bootedSmmu({ sidBits: 8 });
    expect(unit.strtabFmt).toBe(0);
    const v = model.translate({ sid: 0x10, iova: 0x1000n, write: true });
    expect(v).toMatchObject({ kind: "fault", reason: ABORT_NO_EVENT });
    expect(unit.pendingEvents()).toHaveLength(0);
  });

  test("a StreamID beyond LOG2SIZE is C_BAD_STREAMID, and one on a bus without a level-2 table too (Span = 0)", () => {
    const { model, driver } = bootedSmmu({ sidBits: 8 });
    expect(model.translate({ sid: 0x1234, iova: 0n, write: false }).reason).toBe(C_BAD_STREAMID);
    const s2 = s1Setup();
    expect(s2.model.translate({ sid: 0x300, iova: 0n, write: false }).reason).toBe(C_BAD_STREAMID);
    const t = s2.model.explain({ sid: 0x300, iova: 0n, write: false });
    expect(t.trail.stop?.why).toMatch(/Span = 0/);
    void driver;
  });

  test("a stream table base outside memory is F_STE_FETCH with the fetch address", () => {
    const { unit, model, driver } = s1Setup();
    unit.strtabBase = 64 * 2 ** 30; // beyond the 16 GiB of DRAM
    unit.steCache.clear();
    expect(model.translate({ sid: SID, iova: 0n, write: false }).reason).toBe(F_STE_FETCH);
    const ev = driver.serviceEvents();
    expect(ev[0]!.lines.at(-1)).toBe("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_STE_FETCH client: 0000:01:00.0 sid: 0x100 ssid: 0x0 fetch_addr: 0x1000000008");
  });
});

describe("SMMUv3 stage-1 translation (Linux: a DMA domain is stage 1 when S1P)", () => {
  test("a mapped page translates at level 3 (contract level 1), a 2 MiB-aligned map is one L2 block", () => {
    const { model, driver, d } = s1Setup();
    driver.map(d, 0x10000000, 0x40000000, 0x10000, RW);
    expect(model.translate({ sid: SID, iova: 0x10001234n, write: true })).toMatchObject({ kind: "translated", hpa: 0x40001234n, level: 1, domain: d.asid });
    driver.map(d, 0x20000000, 0x80000000, 0x200000, RW);
    const t = model.explain({ sid: SID, iova: 0x20012345n, write: false });
    expect(t.verdict).toMatchObject({ hpa: 0x80012345n, level: 2 });
    expect(t.trail.entries.at(-1)!.name).toBe("S1 L2 block descriptor");
  });

  test("an unmapped IOVA is F_TRANSLATION at the first invalid descriptor; the event goes to the event queue", () => {
    const { model, unit, d } = s1Setup();
    const v = model.translate({ sid: SID, iova: 0x90000f040n, write: true });
    expect(v).toMatchObject({ kind: "fault", reason: F_TRANSLATION, domain: d.asid });
    const t = model.explain({ sid: SID, iova: 0x90000f040n, write: true });
    expect(t.trail.stop).toMatchObject({ cause: "not-present" });
    expect(t.trail.entries.at(-1)!.name).toBe("S1 L0 descriptor");
    const [e] = unit.pendingEvents();
    expect(decodeEvent(e!.raw)).toMatchObject({ id: 0x10, sid: SID, read: false, s2: false, cls: 2, inputAddr: 0x90000f040n });
  });

  test("a write to a read-only page is F_PERMISSION (AP = 0b11), a read passes", () => {
    const { model, driver, d } = s1Setup();
    driver.map(d, 0x10000000, 0x40000000, 0x1000, IOMMU_READ);
    expect(model.translate({ sid: SID, iova: 0x10000000n, write: false }).kind).toBe("translated");
    expect(model.translate({ sid: SID, iova: 0x10000000n, write: true }).reason).toBe(F_PERMISSION);
    expect(model.explain({ sid: SID, iova: 0x10000000n, write: true }).trail.stop).toMatchObject({ cause: "permission", why: "unprivileged write request, AP = 3 in the S1 L3 page descriptor" });
  });

  test("AF = 0 is F_ACCESS; an output address beyond IPS/OAS is F_ADDR_SIZE", () => {
    const { model, driver, d, mem } = s1Setup({ oas: 40 });
    driver.map(d, 0x10000000, 0x40000000, 0x2000, RW);
    const at = model.locate({ sid: SID, structure: "pte", iova: 0x10000000n }) as number;
    mem.writeU64(at, (mem.readU64(at)! & ~(1n << 10n)));
    expect(model.translate({ sid: SID, iova: 0x10000000n, write: false }).reason).toBe(F_ACCESS);
    const at2 = model.locate({ sid: SID, structure: "pte", iova: 0x10001000n }) as number;
    mem.writeU64(at2, mem.readU64(at2)! | (1n << 41n)); // OA bit 41: beyond a 40-bit OAS
    expect(model.translate({ sid: SID, iova: 0x10001000n, write: false }).reason).toBe(F_ADDR_SIZE);
  });

  test("an IOVA beyond the CD's 48-bit input range is F_TRANSLATION before any read", () => {
    const { model } = s1Setup();
    const t = model.explain({ sid: SID, iova: 1n << 50n, write: false });
    expect(t.verdict.reason).toBe(F_TRANSLATION);
    expect(t.trail.stop).toMatchObject({ cause: "address-width" });
    expect(t.trail.entries.filter((e) => e.kind === "pte")).toHaveLength(0);
  });

  test("a table descriptor into unbacked memory is F_WALK_EABT with its fetch address (Linux prints it as UNKNOWN)", () => {
    const { model, driver, d, mem } = s1Setup();
    driver.map(d, 0x10000000, 0x40000000, 0x1000, RW);
    const l2 = model.locate({ sid: SID, structure: "pte", iova: 0x10000000n, level: 2 }) as number;
    mem.writeU64(l2, (64n << 30n) | 3n);
    expect(model.translate({ sid: SID, iova: 0x10000000n, write: false }).reason).toBe(F_WALK_EABT);
    const lines = driver.serviceEvents()[0]!.lines;
    expect(lines.at(-1)).toBe("arm-smmu-v3 arm-smmu-v3.0.auto: event: UNKNOWN client: 0000:01:00.0 sid: 0x100 ssid: 0x0");
  });
});

describe("SMMUv3 configuration: STE and CD checks", () => {
  test("an STE with V = 0 is C_BAD_STE - but only once CMD_CFGI_STE drops the cached STE", () => {
    const { model, driver, d } = s1Setup();
    driver.map(d, 0x10000000, 0x40000000, 0x1000, RW);
    expect(model.translate({ sid: SID, iova: 0x10000000n, write: false }).kind).toBe("translated");
    const at = model.locate({ sid: SID, structure: "context-lo" }) as number;
    driver.mem.writeU64(at, 0n);
    // Cached STE and TLB entry: still translates, and explain calls it stale.
    const t = model.explain({ sid: SID, iova: 0x10000000n, write: false });
    expect(t.verdict.kind).toBe("translated");
    expect(t.stale).toBe(true);
    expect(t.trail.stop).toMatchObject({ reason: C_BAD_STE, cause: "not-present" });
    driver.submit([cmd(0x03, BigInt(SID) << 32n, 1n)]);
    expect(model.translate({ sid: SID, iova: 0x10000000n, write: false }).reason).toBe(C_BAD_STE);
  });

  test("a reserved STE.Config and an inconsistent S2T0SZ/S2SL0 are C_BAD_STE with the reason", () => {
    const { model, driver, unit } = s1Setup();
    const at = model.locate({ sid: SID, structure: "context-lo" }) as number;
    driver.mem.writeU64(at, 1n | (2n << 1n));
    unit.steCache.clear();
    expect(model.explain({ sid: SID, iova: 0n, write: false }).trail.stop?.why).toBe("C_BAD_STE: Config 2 is reserved");
    driver.mem.writeU64(at, 1n | (6n << 1n));
    // S2PS = 0b101 (48 bits): the IPA fits the output size; QEMU's s2t0sz_valid also wants that.
    driver.mem.writeU64(at + 16, (1n << 51n) | (5n << 48n) | (16n << 32n) | (0n << 38n)); // 48-bit IPA starting at level 2
    unit.steCache.clear();
    expect(model.explain({ sid: SID, iova: 0n, write: false }).trail.stop?.why).toMatch(/^C_BAD_STE: S2SL0 0 \(start level 2\) is inconsistent with S2T0SZ 16/);
    // A 48-bit IPA wider than S2PS (32 bits) is out of range before the start level is looked at.
    driver.mem.writeU64(at + 16, (1n << 51n) | (0n << 48n) | (16n << 32n) | (2n << 38n));
    unit.steCache.clear();
    expect(model.explain({ sid: SID, iova: 0n, write: false }).trail.stop?.why).toMatch(/^C_BAD_STE: S2T0SZ 16 is out of range/);
  });

  test("a CD with V = 0 is C_BAD_CD; a SubstreamID is F_STREAM_DISABLED with S1CDMax = 0 and C_BAD_SUBSTREAMID beyond it", () => {
    const { model, driver, unit } = s1Setup({ ssidBits: 4 });
    const t = model.explain({ sid: SID, iova: 0n, write: false });
    const cdAt = Number(t.trail.entries.find((e) => e.name === "CD")!.address);
    expect(model.translate({ sid: SID, pasid: 1, iova: 0n, write: false }).reason).toBe(F_STREAM_DISABLED);
    const ste = model.locate({ sid: SID, structure: "context-lo" }) as number;
    driver.mem.writeU64(ste, driver.mem.readU64(ste)! | (1n << 59n)); // S1CDMax = 1: two CDs
    unit.steCache.clear();
    expect(model.translate({ sid: SID, pasid: 2, iova: 0n, write: false }).reason).toBe(C_BAD_SUBSTREAMID);
    driver.mem.writeU64(cdAt, 0n);
    unit.cdCache.clear();
    expect(model.translate({ sid: SID, pasid: 0, iova: 0n, write: false }).reason).toBe(C_BAD_CD);
  });

  test("CD.R = 0 terminates without recording the event", () => {
    const { model, driver, unit } = s1Setup();
    const cdAt = Number(model.explain({ sid: SID, iova: 0n, write: false }).trail.entries.find((e) => e.name === "CD")!.address);
    driver.mem.writeU64(cdAt, driver.mem.readU64(cdAt)! & ~(1n << 45n));
    unit.cdCache.clear();
    driver.serviceEvents();
    expect(model.translate({ sid: SID, iova: 0x5000n, write: false }).reason).toBe(F_TRANSLATION);
    expect(unit.pendingEvents()).toHaveLength(0);
    expect(unit.counters.suppressed).toBe(1);
  });
});

describe("SMMUv3 stage 2 (iommufd nesting parent / SMMUs without stage 1)", () => {
  test("a stage-2 domain gets VMID 1, a concatenated start level for a 40-bit IPA, and S2 faults carry the IPA", () => {
    const { model, driver, unit } = bootedSmmu({ oas: 40 }, { stage: 2 });
    driver.addMaster(SID, "0000:01:00.0");
    const d = driver.allocDomain();
    expect(d).toMatchObject({ stage: 2, vmid: 1, startLevel: 1, ias: 40 });
    driver.attach(d, [SID]);
    driver.map(d, 0x10000000, 0x40000000, 0x1000, IOMMU_READ);
    expect(model.translate({ sid: SID, iova: 0x10000010n, write: false })).toMatchObject({ kind: "translated", hpa: 0x40000010n, domain: 1 });
    expect(model.translate({ sid: SID, iova: 0x10000010n, write: true }).reason).toBe(F_PERMISSION);
    const [e] = unit.pendingEvents();
    expect(decodeEvent(e!.raw)).toMatchObject({ id: F_PERMISSION, s2: true, ipa: 0x10000000n, cls: 2 });
    expect(driver.serviceEvents()[0]!.lines.slice(-2)).toEqual([
      "arm-smmu-v3 arm-smmu-v3.0.auto: event: F_PERMISSION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0x10000010 ipa: 0x10000000",
      'arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data write s2 "Input address caused fault" stag: 0x0',
    ]);
    expect(model.explain({ sid: SID, iova: 0x10000010n, write: true }).trail.entries.filter((x) => x.kind === "pte").map((x) => x.name)).toEqual(["S2 L1 table descriptor", "S2 L2 table descriptor", "S2 L3 page descriptor"]);
  });

  test("nested: a stage-1 table whose IPA stage 2 does not map is an S2 fault of CLASS TT (ttd_read)", () => {
    const { model, driver, unit, mem } = bootedSmmu({ oas: 48 }, { stage: 2 });
    driver.addMaster(SID, "0000:01:00.0");
    const s2 = driver.allocDomain();
    driver.attach(s2, [SID]);
    // Guest stage 1: a CD at IPA 0x1000 (identity-mapped by stage 2) whose TTB0 IPA 0x200000 stage 2 does not map.
    driver.map(s2, 0x1000, 0x1000, 0x1000, RW);
    const cdPa = 0x1000;
    mem.writeU64(cdPa, 16n | (1n << 31n) | (5n << 32n) | (1n << 41n) | (1n << 45n) | (7n << 48n));
    mem.writeU64(cdPa + 8, 0x200000n);
    const steAt = model.locate({ sid: SID, structure: "context-lo" }) as number;
    mem.writeU64(steAt, 1n | (7n << 1n) | BigInt(cdPa));
    driver.submit([cmd(0x03, BigInt(SID) << 32n, 1n)]);
    expect(model.translate({ sid: SID, iova: 0x4000n, write: false }).reason).toBe(F_TRANSLATION);
    const [e] = unit.pendingEvents();
    expect(decodeEvent(e!.raw)).toMatchObject({ s2: true, cls: 1, ttRead: true });
    expect(driver.serviceEvents()[0]!.lines.at(-1)).toBe('arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data read s2 "Stage 1 translation table fetch" ttd_read stag: 0x0');
  });
});

describe("SMMUv3 TLB and command queue", () => {
  test("unmap issues CMD_TLBI_NH_VA + CMD_SYNC; a PTE cleared without them leaves a stale TLB entry until CMD_TLBI_NH_ASID", () => {
    const { model, driver, d, mem } = s1Setup();
    driver.map(d, 0x10000000, 0x40000000, 0x2000, RW);
    model.translate({ sid: SID, iova: 0x10000000n, write: false });
    model.translate({ sid: SID, iova: 0x10001000n, write: false });
    driver.issued = [];
    expect(driver.unmap(d, 0x10000000, 0x1000)).toBe(0x1000);
    expect(driver.issued.map((c) => Number(c[0] & 0xffn))).toEqual([0x12, 0x46]);
    expect(model.translate({ sid: SID, iova: 0x10000000n, write: false }).reason).toBe(F_TRANSLATION);
    // Clear the second page behind the TLB's back.
    mem.writeU64(model.locate({ sid: SID, structure: "pte", iova: 0x10001000n }) as number, 0n);
    const t = model.explain({ sid: SID, iova: 0x10001000n, write: false });
    expect(t.verdict).toMatchObject({ kind: "translated", cached: true });
    expect(t.stale).toBe(true);
    const r = model.invalidate({ scope: "domain", domain: d.asid });
    expect(r).toMatchObject({ ok: true, dropped: 1 });
    expect(model.translate({ sid: SID, iova: 0x10001000n, write: false }).reason).toBe(F_TRANSLATION);
  });

  test("an illegal command stops the queue (CMDQ_CONS.ERR = CERROR_ILL, GERROR.CMDQ_ERR); the driver prints and skips it", () => {
    const { driver, unit } = s1Setup();
    expect(driver.submit([[0x7fn, 0x1234n]])).toBe(false);
    expect((unit.cmdqCons >>> 24) & 0x7f).toBe(1);
    const lines = driver.serviceGerror();
    expect(lines[0]).toBe("arm-smmu-v3 arm-smmu-v3.0.auto: unexpected global error reported (0x00000001), this could be serious");
    expect(lines[1]).toMatch(/^arm-smmu-v3 arm-smmu-v3\.0\.auto: CMDQ error \(cons 0x010000[0-9a-f]{2}\): Illegal command$/);
    expect(lines.slice(2)).toEqual(["arm-smmu-v3 arm-smmu-v3.0.auto: skipping command in error state:", "arm-smmu-v3 arm-smmu-v3.0.auto: \t0x000000000000007f", "arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000001234"]);
    expect(unit.gerror ^ unit.gerrorn).toBe(0);
    expect(driver.submit([])).toBe(true);
  });

  test("a full event queue overflows: PROD.OVFLG toggles and the driver prints the overflow once", () => {
    const { model, driver, unit } = s1Setup({ evtqShift: 2 });
    for (let i = 0; i < 6; i++) model.translate({ sid: SID, iova: BigInt(0x1000 * (i + 1)), write: false });
    expect(unit.counters.overflowed).toBe(2);
    const out = driver.serviceEvents();
    expect(out).toHaveLength(5);
    expect(out.at(-1)!.lines).toEqual(["arm-smmu-v3 arm-smmu-v3.0.auto: EVTQ overflow detected -- events lost"]);
    expect(driver.serviceEvents()).toHaveLength(0);
  });
});

describe("SMMUv3 inspection through the contract", () => {
  test("tables(): stream table -> L1STD -> STE -> CD -> descriptors, with the model's names", () => {
    const { model, driver, d } = s1Setup();
    driver.map(d, 0x10000000, 0x40000000, 0x1000, RW);
    const root = model.tables().root;
    const l1 = root.children().find((n) => n.kind === "root-entry")!;
    expect(l1.label).toBe("L1STD[1]");
    const ste = l1.children().find((n) => n.kind === "context-entry")!;
    expect(ste).toMatchObject({ label: "STE[0x100]", sid: SID, did: d.asid, translation: "translated" });
    expect(l1.children().find((n) => n.kind === "not-present")!.label).toBe("255 STEs abort");
    const cd = ste.children()[0]!;
    expect(cd).toMatchObject({ kind: "domain", label: `CD (ASID ${d.asid})`, topName: "S1 L0 table" });
    let n = cd.children().find((x) => x.kind === "pte")!;
    while (n.kind === "pte" && !n.leaf) n = n.children().find((x) => x.kind === "pte")!;
    expect(n).toMatchObject({ kind: "pte", leaf: true, target: 0x40000000n, iova: 0x10000000n, level: 1 });
    expect(model.registers().find((r) => r.name === "SMMU_STRTAB_BASE_CFG")!.fields.find((f) => f.name === "FMT")!.meaning).toBe("2-level");
  });

  test("faults(): the event records with Linux's lines of the era asked for", () => {
    const { model } = s1Setup();
    model.translate({ sid: SID, iova: 0x5000n, write: false });
    const [f] = model.faults();
    expect(f).toMatchObject({ sid: SID, reason: F_TRANSLATION, address: 0x5000n, write: false, pending: true });
    expect(f!.words).toHaveLength(4);
    expect(f!.dmesg).toHaveLength(7);
    expect(model.faults("5.10")[0]!.dmesg).toHaveLength(5);
    expect(model.reason(F_TRANSLATION).label).toBe("0x10 F_TRANSLATION");
  });

  test("locate() names the descriptor the walk reads", () => {
    const { model, driver, d } = s1Setup();
    driver.map(d, 0x10000000, 0x40000000, 0x1000, RW);
    const t = model.explain({ sid: SID, iova: 0x10000000n, write: false });
    expect(BigInt(model.locate({ sid: SID, structure: "pte", iova: 0x10000000n }) as number)).toBe(t.trail.entries.at(-1)!.address);
    expect(BigInt(model.locate({ sid: SID, structure: "pte", iova: 0x10000000n, level: 4 }) as number)).toBe(t.trail.entries.find((e) => e.name === "S1 L0 table descriptor")!.address);
  });
});

describe("SMMUv3 hot path into the trace (translateRun)", () => {
  test("a 3-page write: translated pages, a fault on the unmapped page with its event id, fate and the IOVA/PA columns", async () => {
    const { Trace, F_FATE_SHIFT, F_IOTLB_HIT, F_XLATE_SHIFT } = await import("../../src/trace/trace.js");
    const { DmaTally, dmaTransfer } = await import("../../src/sim/vtd/unit.js");
    const { unit, driver, d } = s1Setup();
    driver.map(d, 0x10000000, 0x40000000, 0x2000, RW);
    const trace = new Trace(4);
    const tally = new DmaTally();
    const x = dmaTransfer(SID, 0x10000800n, 0x2000n, true, 2);
    unit.translateRun(x, 0, 6, trace, 7, tally);
    expect(trace.length).toBe(6);
    const rows = Array.from({ length: 6 }, (_, i) => trace.row(i));
    expect(rows.map((r) => r.reason)).toEqual([0, 0, F_TRANSLATION, 0, 0, F_TRANSLATION]);
    expect(rows[0]).toMatchObject({ step: 7, sid: SID, did: d.asid, level: 1, a: 0x10000800n, b: 0x40000800n });
    expect(rows[2]!.a).toBe(0x10002000n);
    expect((rows[2]!.flags >> F_FATE_SHIFT) & 7).toBe(1);
    expect((rows[0]!.flags >> F_XLATE_SHIFT) & 3).toBe(2);
    expect(rows[3]!.flags & F_IOTLB_HIT).toBe(F_IOTLB_HIT);
    expect(tally).toMatchObject({ transactions: 6, faults: 2, firstFault: F_TRANSLATION, firstRecorded: true, bytes: 2 * 0x2000 - 2 * 0x800 });
  });
});

describe("SMMUv3 snapshot/restore (checkpoints)", () => {
  test("unit + driver + memory restored: the same verdicts, TLB hits, events and domain ids as before", () => {
    const { unit, driver, d, mem, model } = s1Setup();
    driver.map(d, 0x10000000, 0x40000000, 0x1000, RW);
    model.translate({ sid: SID, iova: 0x10000000n, write: false });
    const snap = { u: unit.snapshot(), d: driver.snapshot(), m: mem.snapshot() };
    const run = () => {
      const a = model.translate({ sid: SID, iova: 0x10000000n, write: false });
      driver.unmap(d, 0x10000000, 0x1000);
      const b = model.translate({ sid: SID, iova: 0x10000000n, write: true });
      const d2 = driver.allocDomain();
      return { a, b, events: driver.serviceEvents().map((e) => e.lines), asid: d2.asid, counters: { ...unit.counters } };
    };
    const first = run();
    unit.restore(snap.u);
    driver.restore(snap.d);
    mem.restore(snap.m);
    expect(run()).toEqual(first);
    expect(first.a.cached).toBe(true);
  });
});
