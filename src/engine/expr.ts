/**
 * The debugger's small expression language: conditions on breakpoints and Watch/Debug Console
 * field expressions, e.g. `write && iova >= 0x10000000`, `device == "01:00.0"`, `reason == 0x05`.
 * No eval: a tokenizer and a precedence-climbing parser over bigint, string and boolean values.
 * Errors are values ({error}) with the column, never exceptions out of this module.
 */

export type Value = bigint | string | boolean | undefined;

export interface ExprError {
  error: string;
  column: number;
}

type Tok = { kind: "num"; v: bigint; at: number } | { kind: "str"; v: string; at: number } | { kind: "id"; v: string; at: number } | { kind: "op"; v: string; at: number };

const OPS = ["&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")", "+", "-", "&", "|"];

/**
 * Units of work one parse and one evaluation may take each (a counter, not a clock): a character
 * scanned, a node built or evaluated, a name looked up, 64 bits of a number added. Text within the
 * 4000-character limit needs a few times its length; the limit is a guard that no expression runs
 * long (a breakpoint condition runs once per trace event). Over it: an error, never a long run.
 */
export const EXPR_WORK_LIMIT = 100_000;

/** The work a parse or evaluation did (tests assert the bound by counting it). */
export class ExprWork {
  used = 0;
  constructor(readonly limit = EXPR_WORK_LIMIT) {}
  /** False once `units` more would exceed the limit. */
  take(units: number): boolean {
    this.used += units;
    return this.used <= this.limit;
  }
}

const tooMuchWork = (w: ExprWork, column: number): ExprError => ({ error: `the expression needs more than ${w.limit} steps of work: simplify it`, column });

// Sticky patterns: each token is matched where the scan stands, so tokenizing is linear in the text.
const NUM = /0[xX][0-9a-fA-F_]+|[0-9][0-9_]*/y;
const ID = /[A-Za-z_][A-Za-z0-9_.]*/y;
const SPACE = /\s/;

function tokenize(src: string, work: ExprWork): Tok[] | ExprError {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (SPACE.test(c)) {
      if (!work.take(1)) return tooMuchWork(work, i);
      i++;
      continue;
    }
    NUM.lastIndex = i;
    const num = NUM.exec(src);
    if (num) {
      if (!work.take(num[0].length)) return tooMuchWork(work, i);
      out.push({ kind: "num", v: BigInt(num[0].replace(/_/g, "")), at: i });
      i += num[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = src.indexOf(c, i + 1);
      if (end < 0) return { error: "unterminated string", column: i };
      if (!work.take(end + 1 - i)) return tooMuchWork(work, i);
      out.push({ kind: "str", v: src.slice(i + 1, end), at: i });
      i = end + 1;
      continue;
    }
    ID.lastIndex = i;
    const id = ID.exec(src);
    if (id) {
      if (!work.take(id[0].length)) return tooMuchWork(work, i);
      out.push({ kind: "id", v: id[0], at: i });
      i += id[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) {
      if (!work.take(op.length)) return tooMuchWork(work, i);
      out.push({ kind: "op", v: op, at: i });
      i += op.length;
      continue;
    }
    return { error: `unexpected character "${c}"`, column: i };
  }
  return out;
}

const PREC: Record<string, number> = { "||": 1, "&&": 2, "|": 3, "&": 4, "==": 5, "!=": 5, "<": 6, "<=": 6, ">": 6, ">=": 6, "+": 7, "-": 7 };

export type Node =
  | { t: "lit"; v: Value }
  | { t: "id"; name: string; at: number }
  | { t: "un"; op: string; e: Node }
  | { t: "bin"; op: string; a: Node; b: Node; at: number };

/** Parses an expression; names are resolved at evaluation time. */
export function parseExpr(src: string, work = new ExprWork()): Node | ExprError {
  if (src.length > 4000) return { error: "expression too long", column: 0 };
  const lexed = tokenize(src, work);
  if ("error" in lexed) return lexed;
  const toks: Tok[] = lexed;
  let p = 0;
  const fail = (msg: string): ExprError => ({ error: msg, column: toks[p]?.at ?? src.length });
  function primary(): Node | ExprError {
    const t = toks[p];
    if (!t) return fail("expression ends too early");
    if (!work.take(1)) return tooMuchWork(work, t.at);
    p++;
    if (t.kind === "num" || t.kind === "str") return { t: "lit", v: t.v };
    if (t.kind === "id") {
      if (t.v === "true") return { t: "lit", v: true };
      if (t.v === "false") return { t: "lit", v: false };
      return { t: "id", name: t.v, at: t.at };
    }
    if (t.v === "(") {
      const e = binary(0);
      if ("error" in e) return e;
      if (toks[p]?.v !== ")") return fail('missing ")"');
      p++;
      return e;
    }
    if (t.v === "!" || t.v === "-") {
      const e = primary();
      if ("error" in e) return e;
      return { t: "un", op: t.v, e };
    }
    p--;
    return fail(`unexpected "${t.v}"`);
  }
  function binary(min: number): Node | ExprError {
    const first = primary();
    if ("error" in first) return first;
    let a: Node = first;
    for (;;) {
      const t = toks[p];
      if (t === undefined || t.kind !== "op") return a;
      const prec = PREC[t.v];
      if (prec === undefined || prec <= min) return a;
      p++;
      const b = binary(prec);
      if ("error" in b) return b;
      a = { t: "bin", op: t.v, a, b, at: t.at };
    }
  }
  const e = binary(0);
  if ("error" in e) return e;
  if (p < toks.length) return fail(`unexpected "${String(toks[p]!.v)}"`);
  return e;
}

export function truthy(v: Value): boolean {
  return v !== undefined && v !== false && v !== 0n && v !== "";
}

/** Evaluates against a name lookup; an unknown name is an error listing the known ones. */
export function evalExpr(n: Node, lookup: (name: string) => Value | null, known: () => string[], work = new ExprWork()): Value | ExprError {
  if (!work.take(1)) return tooMuchWork(work, "at" in n ? n.at : 0);
  switch (n.t) {
    case "lit":
      return n.v;
    case "id": {
      const v = lookup(n.name);
      if (v === null) return { error: `unknown name "${n.name}"; known here: ${known().join(", ")}`, column: n.at };
      return v;
    }
    case "un": {
      const v = evalExpr(n.e, lookup, known, work);
      if (typeof v === "object") return v;
      if (n.op === "!") return !truthy(v);
      return typeof v === "bigint" ? -v : { error: "unary - needs a number", column: 0 };
    }
    case "bin": {
      const a = evalExpr(n.a, lookup, known, work);
      if (typeof a === "object") return a;
      if (n.op === "&&" && !truthy(a)) return false;
      if (n.op === "||" && truthy(a)) return true;
      const b = evalExpr(n.b, lookup, known, work);
      if (typeof b === "object") return b;
      // Comparing strings (a 1 MB VM name is possible) is linear in them too.
      if ((n.op === "==" || n.op === "!=") && !work.take(Math.ceil((typeof a === "string" ? a.length : 0) / 64 + (typeof b === "string" ? b.length : 0) / 64))) return tooMuchWork(work, n.at);
      switch (n.op) {
        case "&&":
        case "||":
          return truthy(b);
        case "==":
          return eq(a, b);
        case "!=":
          return !eq(a, b);
      }
      if (typeof a !== "bigint" || typeof b !== "bigint") return { error: `"${n.op}" needs numbers`, column: n.at };
      // A number's work grows with its size (a long literal, or a name's value).
      if (!work.take(1 + Math.ceil(Math.max(bitLength(a), bitLength(b)) / 64))) return tooMuchWork(work, n.at);
      switch (n.op) {
        case "<":
          return a < b;
        case "<=":
          return a <= b;
        case ">":
          return a > b;
        case ">=":
          return a >= b;
        case "+":
          return a + b;
        case "-":
          return a - b;
        case "&":
          return a & b;
        case "|":
          return a | b;
      }
      return { error: `unknown operator ${n.op}`, column: n.at };
    }
  }
}

function bitLength(v: bigint): number {
  // Hex digits x 4: bigint has no cheaper bit length (toString(16) is linear in the digits).
  return (v < 0n ? -v : v).toString(16).length * 4;
}

function eq(a: Value, b: Value): boolean {
  if (typeof a === "boolean" && typeof b === "bigint") return a === (b !== 0n);
  if (typeof b === "boolean" && typeof a === "bigint") return b === (a !== 0n);
  if (typeof a === "string" && typeof b === "string") return normalise(a) === normalise(b);
  return a === b;
}

/** "0000:01:00.0" and "01:00.0" name the same device. */
function normalise(s: string): string {
  return s.replace(/^0000:/, "").toLowerCase();
}

/**
 * A value as the Debug Console shows it. Numbers: `hex` true gives hex only, false decimal only,
 * undefined both ("0x10 (16)"; a negative number is decimal).
 */
export function formatValue(v: Value, hex?: boolean): string {
  if (typeof v === "bigint") {
    if (hex === true) return v >= 0n ? `0x${v.toString(16)}` : `-0x${(-v).toString(16)}`;
    if (hex === false) return v.toString(10);
    return v >= 0n ? `0x${v.toString(16)} (${v})` : String(v);
  }
  if (typeof v === "string") return JSON.stringify(v);
  return String(v);
}

/**
 * Re-renders a number that formatValue rendered with the default (both radixes) in the radix
 * asked for; any other text (a string, a boolean, a console command's answer) is returned as is.
 */
export function reformatNumber(text: string, hex?: boolean): string {
  if (hex === undefined) return text;
  const both = /^0x([0-9a-f]+) \((\d+)\)$/.exec(text);
  if (both && BigInt(`0x${both[1]!}`) === BigInt(both[2]!)) return formatValue(BigInt(both[2]!), hex);
  if (/^-\d+$/.test(text)) return formatValue(BigInt(text), hex);
  return text;
}
