// 256-bit invalidation descriptors (IQA.DW = 1), which scalable mode requires: Linux programs
// DW = 1 and QS = 1 with ecap_smts and writes 32-byte descriptors at index << 5; the unit reads
// them at that width from simulated memory and raises an Invalidation Queue Error where the width
// is wrong, with QEMU's words (vtd_inv_desc_reserved_check, vtd_handle_iqt_write, vtd_fetch_inv_desc).
import { describe, expect, it } from "vitest";
import { bootedUnit } from "./helpers.js";
import { DMAR_FSTS_REG, DMAR_IQA_REG, DMAR_IQH_REG, DMAR_IQT_REG, FSTS_IQE } from "../../src/sim/vtd/regs.js";
import { descriptorWidthError } from "../../src/sim/vtd/unit.js";
import { encodePcDesc, encodePiotlbDesc, encodeWaitDesc, PC_DOMAIN, PIOTLB_PASID } from "../../src/sim/vtd/qi.js";
import { vtdUnit } from "../../src/sim/vtd/model.js";
import { simulateText } from "../../src/cli/simulate.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const SID = 0x0100;

function queue(u: ReturnType<typeof bootedUnit>) {
  const iqa = u.unit.readReg64(DMAR_IQA_REG);
  return { base: Number(iqa & ~0xfffn), iqa };
}

/** Writes raw descriptors (4 qwords each at `size` bytes) after the current tail and moves IQT, as a driver would. */
function submitRaw(u: ReturnType<typeof bootedUnit>, size: 16 | 32, descs: bigint[][], tailBits = 0n): void {
  const { base } = queue(u);
  const shift = size === 32 ? 5n : 4n;
  let tail = Number(u.unit.readReg64(DMAR_IQT_REG) >> shift);
  for (const d of descs) {
    for (let i = 0; i < size / 8; i++) u.mem.writeU64(base + tail * size + 8 * i, d[i] ?? 0n);
    tail++;
  }
  u.unit.writeReg64(DMAR_IQT_REG, (BigInt(tail) << shift) | tailBits);
}

const iqe = (u: ReturnType<typeof bootedUnit>) => (u.unit.readReg32(DMAR_FSTS_REG) & FSTS_IQE) !== 0;

describe("the invalidation queue in scalable mode (IQA.DW = 1)", () => {
  it("Linux programs DW = 1, QS = 1 and writes each descriptor as 32 bytes at index << 5; IQH follows in the same units", () => {
    const u = bootedUnit({ scalable: true });
    const { base, iqa } = queue(u);
    expect(iqa & 0xfffn).toBe(0x801n); // DW (bit 11), QS = 1: two pages of 128 descriptors
    expect(u.unit.iqDw).toBe(true);
    const dom = u.driver.allocDomain();
    u.driver.attach(dom, [SID]);
    const tail = Number(u.unit.readReg64(DMAR_IQT_REG));
    expect(tail % 32).toBe(0);
    expect(u.unit.readReg64(DMAR_IQH_REG)).toBe(BigInt(tail)); // the unit consumed everything
    // The last descriptor before the tail is the wait descriptor, 32 bytes before it, upper half zero.
    const at = base + tail - 32;
    expect(Number(u.mem.readU64(at)! & 0xfn)).toBe(0x5);
    expect([u.mem.readU64(at + 16), u.mem.readU64(at + 24)]).toEqual([0n, 0n]);
    // The descriptor before it starts 32 bytes earlier, not 16 (the 128-bit layout would find the wait's qw2 there).
    expect(Number(u.mem.readU64(at - 32)! & 0xfn)).not.toBe(0);
    expect(iqe(u)).toBe(false);
    // The Registers view decodes IQH/IQT with the index at bit 5.
    const regs = vtdUnit(u.unit, u.driver).registers();
    const qt = regs.find((r) => r.name === "IQT")!.fields.find((f) => f.name === "QT")!;
    expect(qt).toMatchObject({ lo: 5, raw: BigInt(tail >> 5) });
  });

  it("a PASID-based descriptor is processed from 32 bytes; non-zero qw2/qw3 is an IQE with QEMU's message", () => {
    const u = bootedUnit({ scalable: true });
    const [lo, hi] = encodePiotlbDesc(PIOTLB_PASID, 1, 5);
    submitRaw(u, 32, [[lo, hi, 0n, 0n]]);
    expect(iqe(u)).toBe(false);
    const head = u.unit.readReg64(DMAR_IQH_REG);
    submitRaw(u, 32, [[lo, hi, 0n, 0x1n]]);
    expect(iqe(u)).toBe(true);
    expect(u.unit.readReg64(DMAR_IQH_REG)).toBe(head); // IQH stays on the offending descriptor
    expect(u.unit.qiError).toBe(`vtd_inv_desc_reserved_check: invalid piotlb inv desc val[3]: 0x1 val[2]: 0x0 val[1]=0x0 val[0]=0x${lo.toString(16)} (reserved nonzero)`);
  });

  it("IQT bit 4 is reserved with 256-bit descriptors (QEMU vtd_handle_iqt_write)", () => {
    const u = bootedUnit({ scalable: true });
    const [lo, hi] = encodeWaitDesc(0n);
    submitRaw(u, 32, [[lo, hi]], 0x10n);
    expect(iqe(u)).toBe(true);
    expect(u.unit.qiError).toBe(`vtd_handle_iqt_write: RSV bit is set: val=0x${u.unit.readReg64(DMAR_IQT_REG).toString(16)}`);
    expect(u.unit.readReg64(DMAR_IQT_REG) & 0x10n).toBe(0x10n);
  });

  it("a tail beyond the queue is an IQE (QEMU vtd_fetch_inv_desc)", () => {
    const u = bootedUnit({ scalable: true });
    u.unit.writeReg64(DMAR_IQT_REG, 256n << 5n); // QS = 1 with DW = 1: 256 descriptors, indices 0..255
    expect(iqe(u)).toBe(true);
    expect(u.unit.qiError).toBe("vtd_fetch_inv_desc: detected invalid QI tail (tail=0x100, size=0x100)");
  });

  it("in a 128-bit queue the PASID-based descriptors (256-bit only) are an IQE; the legacy ones are not", () => {
    expect(descriptorWidthError(false, encodePcDesc(PC_DOMAIN, 1)[0], 0n, 0n, 0n)).toBe("vtd_inv_desc_reserved_check: 256-bit pasid cache inv desc in 128-bit invalidation queue");
    expect(descriptorWidthError(false, encodePiotlbDesc(PIOTLB_PASID, 1, 5)[0], 0n, 0n, 0n)).toMatch(/256-bit piotlb inv desc/);
    expect(descriptorWidthError(false, 0x8n, 0n, 0n, 0n)).toMatch(/256-bit p-dev-iotlb inv desc/);
    expect(descriptorWidthError(false, 0x2n, 0n, 0n, 0n)).toBe("");
    expect(descriptorWidthError(true, 0x2n, 0n, 0n, 0n)).toBe("");
  });

  it("IQA.DW is ignored on a unit without ECAP.SMTS: legacy mode keeps 16-byte descriptors", () => {
    const u = bootedUnit();
    expect(queue(u).iqa & 0x800n).toBe(0n);
    u.unit.writeReg64(DMAR_IQA_REG, queue(u).iqa | 0x800n);
    expect(u.unit.iqDw).toBe(false);
    const dom = u.driver.allocDomain();
    u.driver.attach(dom, [SID]);
    expect(iqe(u)).toBe(false);
    expect(Number(u.unit.readReg64(DMAR_IQT_REG)) % 16).toBe(0);
  });
});

describe("a queue whose width disagrees with the driver's (example invalidation-descriptor-width)", () => {
  it("IQA poked to DW = 0: the next PASID-based flush stops the queue; Linux prints qi_check_fault()'s lines and the IOTLB keeps the stale entry", () => {
    const file = join(__dirname, "..", "..", "examples", "invalidation-descriptor-width.passthrough.yaml");
    const r = simulateText(readFileSync(file, "utf8"), file);
    expect(JSON.stringify(r.steps)).toContain("256-bit piotlb inv desc in 128-bit invalidation queue");
    const dmesg = r.dmesg.join("\n");
    // IQEI 5 (VT-d 11.4.9.9): a 128-bit queue (IQA.DW = 0) while the unit is in scalable mode.
    expect(dmesg).toContain("DMAR: VT-d detected Invalidation Queue Error: Reason 5");
    expect(dmesg).toContain("DMAR: QI HEAD: PASID-based IOTLB Invalidation qw0 = 0x500030026, qw1 = 0x0");
    expect(dmesg).toContain("DMAR: Invalidation Queue Error (IQE) cleared");
    expect(r.expectations).toEqual({ passed: 3, failed: 0, notReached: 0 });
  });
});
