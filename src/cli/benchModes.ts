/**
 * `passthrough bench --mode legacy|scalable|nested`: the SPEC workloads (../shared/bench/SPEC.md,
 * the same tables and request streams) through the DMAR unit's own translate() — the path every
 * `dma` transaction takes (DmarUnit.translateRun calls it per transaction) — instead of the
 * batched translate core the default benchmark times:
 *  - legacy: a legacy-mode context entry with the SPEC tables as its second level;
 *  - scalable: scalable mode, RID_PASID's PASID entry PGTT = second-level over the SPEC tables
 *    (context cache, PASID cache, the PASID's IOTLB tag, then the same translate core);
 *  - nested: scalable mode, PGTT = nested: the SPEC tables read as a first-level table (supervisor
 *    requests: RID_PRIV = 1, SRE = 1, since SPEC entries have no U/S), every table address and
 *    the output through a second level that maps [0, 2^40) with 1 GiB pages.
 * Every workload runs with the unit's IOTLB (256 x 4): W1's numbers are not SPEC's no-IOTLB W1.
 * The fault reasons differ per mode (scalable-mode codes), so the JSON carries them per code.
 */
import { IntelIommuDriver, type DmarDomain } from "../sim/vtd/driver.js";
import { DmarUnit } from "../sim/vtd/unit.js";
import { PGTT_NESTED } from "../sim/vtd/scalable.js";
import { vtdIommuSpec } from "../sim/vtd/spec.js";
import { generate, requests, TABLE_BASE } from "./bench.js";

export type BenchMode = "legacy" | "scalable" | "nested";
export const BENCH_MODES: readonly BenchMode[] = ["legacy", "scalable", "nested"];

const SID = 0x0100;

/**
 * The unit, tables and driver of one mode's benchmark (runModeBench; bench/nested-ir.ts measures
 * `translate()` alone by instruction count on the same set-up). `psc`: the unit's
 * paging-structure caches (scenario `paging-structure-cache`), off by default as in scenarios.
 */
export function setupModeBench(mode: BenchMode, psc?: { entries: number; replacement?: "fifo" | "lru" }): { unit: DmarUnit; t: ReturnType<typeof generate>; sid: number } {
  const base = vtdIommuSpec(mode !== "legacy" ? { scalable: true, firstLevel: false } : {});
  const sp = psc !== undefined ? { ...base, pagingStructureCache: { entries: psc.entries, replacement: psc.replacement ?? "fifo" } } : base;
  const t = generate(DmarUnit.sramBytes(sp));
  const unit = new DmarUnit(t.mem, sp);
  const driver = new IntelIommuDriver(unit, t.mem);
  driver.init();
  // The SPEC tables as a domain (second-level, 4 levels, DID 1's tables at TABLE_BASE).
  const spec4: DmarDomain = { did: driver.allocDid(), pgd: TABLE_BASE, aw: 2, levels: 4, passThrough: false, rids: new Set() };
  driver.domains.set(spec4.did, spec4);
  driver.attach(spec4, [SID]);
  if (mode === "nested") {
    const parent = driver.allocDomain(false, true);
    driver.map(parent, 0n, 0n, 1n << 40n, 3);
    driver.setPasidEntry(SID, 0, PGTT_NESTED, spec4.did, parent.pgd, TABLE_BASE, 4, { sre: true });
    // RID_PRIV = 1: requests without PASID are supervisor requests (the SPEC entries have U/S = 0).
    const ce = driver.smContextEntry(SID);
    t.mem.writeU64(ce + 8, (t.mem.readU64(ce + 8) ?? 0n) | (1n << 20n));
  }
  return { unit, t, sid: SID };
}

/**
 * The timed loop: `n` requests through the unit's translate() (`faults` cleared, then tallied per
 * reason); the count of translations and a hash of their outputs.
 */
export function translateAll(unit: DmarUnit, req: ReturnType<typeof requests>, n: number, faults: Map<number, number>): { ok: number; hash: number } {
  let ok = 0;
  let hash = 0;
  faults.clear();
  for (let i = 0; i < n; i++) {
    const r = unit.translate(SID, req.iova[2 * i + 1]!, req.iova[2 * i]!, req.write[i] === 1);
    if (r === 0) {
      ok++;
      hash = (Math.imul(hash, 31) + (unit.hpaLo ^ unit.hpaHi)) | 0;
    } else faults.set(r, (faults.get(r) ?? 0) + 1);
  }
  return { ok, hash };
}

export function runModeBench(mode: BenchMode, n: number, reps: number, log: (line: string) => void = () => {}): string {
  const { unit, t } = setupModeBench(mode);
  const parts: string[] = [`"impl":"ts-unit"`, `"mode":"${mode}"`, `"n":${n}`, `"reps":${reps}`];
  for (const w of [1, 2, 3] as const) {
    const req = requests(t, w, n);
    const runs: number[] = [];
    let ok = 0;
    let hash = 0;
    const faults = new Map<number, number>();
    for (let rep = 0; rep < reps; rep++) {
      unit.iotlb.invalidateAll();
      // Fault recording stays off the timed path: every record slot is busy after the first few.
      const t0 = process.hrtime.bigint();
      ({ ok, hash } = translateAll(unit, req, n, faults));
      const t1 = process.hrtime.bigint();
      runs.push(n / (Number(t1 - t0) / 1e9) / 1e6);
      log(`${mode} w${w} rep ${rep + 1}: ${runs[rep]!.toFixed(2)} Mtps`);
    }
    const f = [...faults].sort((a, b) => a[0] - b[0]).map(([c, k]) => `"0x${c.toString(16).padStart(2, "0")}":${k}`).join(",");
    parts.push(`"w${w}_mtps":${Math.max(...runs).toFixed(2)}`, `"w${w}_runs":[${runs.map((v) => v.toFixed(2)).join(",")}]`, `"w${w}_ok":${ok}`, `"w${w}_faults":{${f}}`, `"w${w}_hash":"0x${(hash >>> 0).toString(16).padStart(8, "0")}"`);
  }
  return `{${parts.join(",")}}`;
}
