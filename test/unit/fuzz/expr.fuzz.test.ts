// Fuzzing the debugger's expression language (breakpoint conditions, Watch, Debug Console):
// grammar-aware expressions and arbitrary text. parseExpr and evalExpr return a value or an error
// with a column inside the text, never throw; the work of parsing and evaluating is counted
// (ExprWork: characters, nodes, lookups, number sizes) and bounded by the expression's length.
import fc from "fast-check";
import { describe, it } from "vitest";
import { EXPR_WORK_LIMIT, ExprWork, evalExpr, formatValue, parseExpr, type Value } from "../../../src/engine/expr.js";
import { runs, seed } from "./mutate.js";

const ENV: Record<string, Value> = { iova: 0x1000n, write: true, device: "01:00.0", reason: 6n, hpa: 0x7c34_6000n, name: "web01", "vm.memory": 4n << 30n, none: undefined };
const known = () => Object.keys(ENV);

const name = fc.constantFrom(...Object.keys(ENV), "unknown", "x.y", "_");
const literal = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 70n) - 1n }).map((n) => (n % 2n === 0n ? `0x${n.toString(16)}` : n.toString())),
  fc.constantFrom('"01:00.0"', "'0000:01:00.0'", '""', "true", "false", "0x1_000", "1_000"),
  fc.string({ maxLength: 8 }).map((s) => `"${s.replace(/"/g, "")}"`),
);
const OPS = ["&&", "||", "==", "!=", "<", "<=", ">", ">=", "+", "-", "&", "|"] as const;
const { expr } = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    name,
    literal,
    fc.tuple(fc.constantFrom("!", "-"), tie("expr")).map(([o, e]) => `${o}${e}`),
    fc.tuple(tie("expr"), fc.constantFrom(...OPS), tie("expr"), fc.constantFrom(" ", "")).map(([a, o, b, sp]) => `${a}${sp}${o}${sp}${b}`),
    tie("expr").map((e) => `(${e})`),
  ),
}));
/** Grammar-aware text with slips: a token dropped, doubled or swapped. */
const slipped = fc.tuple(expr, fc.nat(), fc.constantFrom("", "(", ")", '"', "'", "&", "|", "=", "!", "$", "\u0000", "é", " ")).map(([e, at, t]) => {
  const i = at % (e.length + 1);
  return e.slice(0, i) + t + e.slice(i + (at % 3 === 0 ? 1 : 0));
});
/** Deep nesting and long chains, near the 4000-character limit. */
const deep = fc.tuple(fc.constantFrom("(", "!", "-", "!(", "-("), fc.integer({ min: 1, max: 2100 }), fc.boolean()).map(([open, n, close]) => {
  const body = open.repeat(n) + "1";
  return close ? body + ")".repeat(open.includes("(") ? n : 0) : body;
});
const chain = fc.tuple(fc.constantFrom(...OPS), fc.integer({ min: 1, max: 1400 })).map(([o, n]) => Array.from({ length: n }, () => "iova").join(o));

/** Work counted for a text of `length` characters (parse + evaluation): linear in the text. */
const workBound = (length: number) => 4 * length + 16;

function check(src: string): void {
  const parseWork = new ExprWork();
  const n = parseExpr(src, parseWork);
  if (parseWork.used > workBound(src.length)) throw new Error(`parsing a ${src.length}-character text counted ${parseWork.used} units of work`);
  if ("error" in n) {
    if (!n.error || !(n.column >= 0 && n.column <= src.length)) throw new Error(`error ${JSON.stringify(n)} for a ${src.length}-character text`);
    return;
  }
  let lookups = 0;
  const evalWork = new ExprWork();
  const v = evalExpr(
    n,
    (k) => {
      lookups++;
      return Object.hasOwn(ENV, k) ? ENV[k] : null;
    },
    known,
    evalWork,
  );
  // The work budget (a counter, not a clock): linear in the text, far below the limit that turns it into an error.
  if (evalWork.used > workBound(src.length) || evalWork.used > EXPR_WORK_LIMIT) throw new Error(`evaluating a ${src.length}-character expression counted ${evalWork.used} units of work`);
  // Each name is looked up at most once per occurrence: the work is bounded by the text.
  if (lookups > src.length) throw new Error(`${lookups} lookups for a ${src.length}-character expression`);
  if (typeof v === "object") {
    if (!v.error || !(v.column >= 0 && v.column <= src.length)) throw new Error(`error ${JSON.stringify(v)} for a ${src.length}-character text`);
    return;
  }
  formatValue(v);
  formatValue(v, true);
  formatValue(v, false);
}

describe("fuzz: debug expression evaluator", () => {
  it("grammar-aware expressions, with slips", () => {
    fc.assert(fc.property(fc.oneof(expr, slipped), check), { numRuns: runs(45_000), ...seed(18_011) });
  });
  it("arbitrary text", () => {
    fc.assert(fc.property(fc.string({ maxLength: 60, unit: "binary" }), check), { numRuns: runs(20_000), ...seed(18_012) });
  });
  it("deep nesting and long operator chains up to the length limit", () => {
    fc.assert(fc.property(fc.oneof(deep, chain), check), { numRuns: runs(400), ...seed(18_013) });
  });
});
