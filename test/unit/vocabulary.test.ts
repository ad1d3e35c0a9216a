// One vocabulary (issue 15): one fault-reason enum (reasons.ts VTD_FR_*), the FRCD fields by the
// spec's names with one decoder (regs.ts), and the trace's short reason labels taken from the one
// table of reason names.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DMAR_FRCD_REG, FRCD_FIELDS, decodeFrcd, decodeFrcdRecord } from "../../src/sim/vtd/regs.js";
import { faultReasonInfo } from "../../src/sim/vtd/reasons.js";
import { SHORT_REASONS, rowResult } from "../../src/trace/rowDisplay.js";
import { EventKind } from "../../src/trace/trace.js";
import { bootedUnit } from "./helpers.js";

const root = join(__dirname, "..", "..");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("one fault-reason enum", () => {
  it("no module but sim/vtd/reasons.ts declares a fault-reason constant (FR_* / VTD_FR_*)", () => {
    const offenders: string[] = [];
    for (const f of sources(join(root, "src"))) {
      if (f.endsWith(join("vtd", "reasons.ts"))) continue;
      for (const m of readFileSync(f, "utf8").matchAll(/\bconst\s+((?:VTD_)?FR_[A-Z_]+)\s*=/g)) offenders.push(`${relative(root, f)}: ${m[1]}`);
    }
    expect(offenders).toEqual([]);
  });

  it("every short label of the DMA Trace belongs to a code QEMU names (or a scalable-mode code Linux names), and each DMA-path code 0x01..0x0e has one", () => {
    for (const [code, label] of Object.entries(SHORT_REASONS)) {
      const info = faultReasonInfo(Number(code));
      // Scalable mode reports the hardware's SM codes (0x30 and up) where QEMU has no name: Linux's table names them.
      if (Number(code) >= 0x30 && info.name === "") expect(info.linuxText, `0x${Number(code).toString(16)} ${label}`).toMatch(/^SM: /);
      else expect(info.name, `0x${Number(code).toString(16)} ${label}`).toMatch(/^VTD_FR_/);
      expect(label).not.toBe("");
    }
    for (let c = 0x01; c <= 0x0e; c++) expect(SHORT_REASONS[c], `0x${c.toString(16)}`).toBeTruthy();
    expect(rowResult({ kind: EventKind.Dma, flags: 0, reason: 0x05, level: 0 }).text).toBe("fault 0x05 PTE W not set");
  });
});

describe("fault recording register fields", () => {
  const q64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

  it("FRCD_FIELDS names the spec's fields, low bits first, without overlaps", () => {
    expect(Object.keys(FRCD_FIELDS)).toEqual(["FI", "SID", "PRIV", "EXE", "PP", "FR", "PV", "AT", "T", "F"]);
    let prevHi = -1;
    for (const f of Object.values(FRCD_FIELDS)) {
      expect(f.lo).toBeGreaterThan(prevHi);
      expect(f.hi).toBeGreaterThanOrEqual(f.lo);
      prevHi = f.hi;
    }
    expect(FRCD_FIELDS.F.hi).toBe(127);
  });

  it("the unit's readRecord is decodeFrcd's answer for any register contents with F = 1", () => {
    const { unit } = bootedUnit({ faultRecords: 4 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), q64, q64, (i, lo, hi0) => {
        const hi = hi0 | (1n << 63n); // F = 1
        const off = DMAR_FRCD_REG + 16 * i;
        const words = [lo, lo >> 32n, hi, hi >> 32n].map((w) => Number(w & 0xffffffffn));
        words.forEach((w, k) => (unit.regs[(off >> 2) + k] = w));
        const byName = Object.fromEntries(decodeFrcd(lo, hi).map((f) => [f.name, f.raw]));
        const rec = unit.readRecord(i)!;
        expect(rec.sid).toBe(Number(byName.SID));
        expect(rec.reason).toBe(Number(byName.FR));
        expect(rec.read).toBe(byName.T === 1n);
        expect(rec.address).toBe(byName.FI! << 12n);
        expect(rec.pasid).toBe(byName.PP === 1n ? Number(byName.PV) : undefined);
        const r = decodeFrcdRecord(lo, hi);
        expect([r.F, r.AT, r.PRIV, r.EXE]).toEqual([true, Number(byName.AT), byName.PRIV === 1n, byName.EXE === 1n]);
        words.forEach((_, k) => (unit.regs[(off >> 2) + k] = 0));
      }),
    );
  });
});
