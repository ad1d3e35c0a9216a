// Work budgets (issue 18, "work counters"): the steps whose work is not linear in their input
// count it against a budget (src/import/work.ts, src/engine/expr.ts), so no input runs past about a
// second, and say so when the budget ends. Asserted by counting units of work, never by timing.
import { describe, expect, it } from "vitest";
import { decodeEvidenceText } from "../../src/import/decode.js";
import { explainRecords } from "../../src/import/index.js";
import { ExplainContext, explainRecord } from "../../src/import/explain.js";
import { EXPLAIN_HISTORY_WORK, WorkBudget } from "../../src/import/work.js";
import { EXPR_WORK_LIMIT, ExprWork, evalExpr, parseExpr, type Value } from "../../src/engine/expr.js";

const hex16 = (n: number) => `0x${n.toString(16).padStart(16, "0")}`;
/** An ftrace log of `maps` maps of 64 KiB. */
function trace(maps: number): string {
  const lines = ["# tracer: nop", "#"];
  for (let k = 0; k < maps; k++) {
    const iova = 0x1000_0000 + k * 0x10000;
    lines.push(` qemu-system-x86-4242    [003] .....   811.${String(k).padStart(6, "0")}: map: IOMMU: iova=${hex16(iova)} - ${hex16(iova + 0x10000)} paddr=${hex16(0x1_2345_0000 + k * 0x10000)} size=65536`);
  }
  return lines.join("\n") + "\n";
}
/** A kernel log of `faults` DMAR faults inside the first map (drivers/iommu/intel/dmar.c dmar_fault_do_one's format). */
function faults(n: number): string {
  const lines: string[] = [];
  for (let k = 0; k < n; k++) lines.push(`[  900.${String(k).padStart(6, "0")}] DMAR: [DMA Read NO_PASID] Request device [0x03:0x00.1] fault addr 0x${(0x1000_0000 + (k % 16) * 0x1000).toString(16)} [fault reason 0x06] PTE Read access is not set`);
  return lines.join("\n") + "\n";
}

describe("explain's history comparisons (faults x map/unmap records)", () => {
  it("stay within EXPLAIN_HISTORY_WORK: the first faults get their history, the rest say the limit was reached and what to do", () => {
    const maps = 5_000;
    const log = decodeEvidenceText(faults(300), { kind: "log" });
    const history = decodeEvidenceText(trace(maps), { kind: "ftrace" }).records;
    expect(history).toHaveLength(maps);
    const ex = explainRecords(log.records, history).filter((e) => log.records[e.record]!.kind === "dmar-fault");
    expect(ex).toHaveLength(300);
    const within = Math.floor(EXPLAIN_HISTORY_WORK / maps);
    expect(within).toBeLessThan(300);
    const limited = `Not compared with the ${maps} map/unmap records of the history: this explanation reached its work limit (${EXPLAIN_HISTORY_WORK} comparisons of a fault with a map or unmap). Explain a smaller part of the log (a selection, or a shorter trace) to see this IOVA's history.`;
    for (const [k, e] of ex.entries()) {
      if (k < within) expect(e.evidence.join("\n"), `fault ${k}`).toMatch(/was mapped at line \d+ of the trace/);
      else expect(e.evidence, `fault ${k}`).toContain(limited);
    }
  });

  it("counts: the comparisons made are the budget's units, never more than the limit", () => {
    const around = new ExplainContext();
    const log = decodeEvidenceText(faults(300), { kind: "log" });
    const history = decodeEvidenceText(trace(5_000), { kind: "ftrace" }).records;
    for (const r of log.records) around.add(r);
    log.records.forEach((r, i) => explainRecord(r, i, history, around));
    expect(around.historyWork.used).toBe(Math.floor(EXPLAIN_HISTORY_WORK / 5_000) * 5_000);
    expect(around.historyWork.used).toBeLessThanOrEqual(EXPLAIN_HISTORY_WORK);
    expect(around.historyWork.exhausted).toBe(true);
  });
});

describe("WorkBudget", () => {
  it("takes what fits, refuses the take that would exceed the limit, and stays exhausted", () => {
    const w = new WorkBudget(10);
    expect(w.take(6)).toBe(true);
    expect(w.take(5)).toBe(false);
    expect(w.used).toBe(6);
    expect(w.take(1)).toBe(false);
    expect(w.exhausted).toBe(true);
  });
});

describe("the debug expression evaluator's work budget (breakpoint conditions, Watch, Debug Console)", () => {
  const lookup = (values: Record<string, Value>) => (k: string) => (Object.hasOwn(values, k) ? values[k]! : null);

  it("a parse over its budget is an error with a column in the text, not a long run", () => {
    const src = Array.from({ length: 500 }, () => "iova").join(" + ");
    const work = new ExprWork(1000);
    const n = parseExpr(src, work);
    expect(n).toMatchObject({ error: "the expression needs more than 1000 steps of work: simplify it" });
    const column = (n as { column: number }).column;
    expect(column).toBeGreaterThan(0);
    expect(column).toBeLessThan(src.length);
    expect(work.used).toBeLessThanOrEqual(1000 + 8);
    // Within the default budget the same text parses and evaluates.
    const ok = parseExpr(src);
    expect("error" in ok).toBe(false);
    expect(evalExpr(ok as never, lookup({ iova: 2n }), () => ["iova"])).toBe(1000n);
  });

  it("comparing a huge value (a 10 MB VM name) is counted by its size and stops with the error", () => {
    const n = parseExpr('name == "web01"');
    const work = new ExprWork();
    const v = evalExpr(n as never, lookup({ name: "x".repeat(10 << 20) }), () => ["name"], work);
    expect(v).toEqual({ error: `the expression needs more than ${EXPR_WORK_LIMIT} steps of work: simplify it`, column: 5 });
    // A name of ordinary size costs a few units.
    const small = new ExprWork();
    expect(evalExpr(n as never, lookup({ name: "web01" }), () => ["name"], small)).toBe(true);
    expect(small.used).toBeLessThan(10);
  });

  it("the longest expressions the language allows stay far inside the budget", () => {
    for (const src of ["(".repeat(1999) + "1" + ")".repeat(1999), Array.from({ length: 800 }, () => "iova").join("+"), `0x${"f".repeat(3998)}`, "!".repeat(3999) + "1"]) {
      const pw = new ExprWork();
      const n = parseExpr(src, pw);
      if ("error" in n) throw new Error(`${src.slice(0, 20)}: ${n.error}`);
      const ew = new ExprWork();
      evalExpr(n, lookup({ iova: 1n }), () => ["iova"], ew);
      expect(pw.used + ew.used, src.slice(0, 20)).toBeLessThan(EXPR_WORK_LIMIT / 4);
    }
  });
});
