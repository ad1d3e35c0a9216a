/**
 * Scalar grammars of the scenario format, parsed from the text the user wrote (never through a
 * float): sizes (`4KiB`, `2M`, `0x1000`), addresses (`0x7c34_6000`), BDFs, durations, perms.
 * Each parser returns the value or a message + hint for a diagnostic.
 */
import { parseBdf as parseBdfText, type Bdf } from "../sim/bdf.js";
import type { Perm } from "./types.js";
import * as l10n from "@vscode/l10n";

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; hint: string };

const UNITS: Record<string, bigint> = { b: 1n, k: 1n << 10n, kib: 1n << 10n, m: 1n << 20n, mib: 1n << 20n, g: 1n << 30n, gib: 1n << 30n, t: 1n << 40n, tib: 1n << 40n };
const U64_MAX = (1n << 64n) - 1n;

function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

function bad<T>(message: string, hint: string): Parsed<T> {
  return { ok: false, message, hint };
}

/** An unsigned integer in decimal or 0x-hex, `_` separators allowed. */
export function parseInteger(raw: string): bigint | undefined {
  const s = raw.trim().replace(/_/g, "");
  if (/^0x[0-9a-f]+$/i.test(s)) return BigInt(s);
  if (/^[0-9]+$/.test(s)) return BigInt(s);
  return undefined;
}

export function parseSize(raw: string): Parsed<bigint> {
  const m = /^\s*(0x[0-9a-f_]+|[0-9][0-9_]*(?:\.[0-9]+)?)\s*([a-z]*)\s*$/i.exec(raw);
  if (!m) return bad(l10n.t("{0} is not a size", quoted(raw)), l10n.t("Write bytes or a size with a unit, e.g. 4096, 4KiB, 2MiB, 64GiB."));
  const unit = UNITS[(m[2] ?? "").toLowerCase() || "b"];
  if (unit === undefined) return bad(l10n.t("unknown size unit {0} in {1}", quoted(m[2]!), quoted(raw)), l10n.t("Units are KiB, MiB, GiB, TiB (or K, M, G, T)."));
  const num = m[1]!.replace(/_/g, "");
  let value: bigint;
  if (num.includes(".")) {
    const [whole, frac] = num.split(".") as [string, string];
    const scale = 10n ** BigInt(frac.length);
    const total = (BigInt(whole) * scale + BigInt(frac)) * unit;
    if (total % scale !== 0n) return bad(l10n.t("{0} is not a whole number of bytes", quoted(raw)), l10n.t("Use a smaller unit, e.g. 1536MiB instead of 1.5001GiB."));
    value = total / scale;
  } else {
    value = BigInt(num) * unit;
  }
  if (value > U64_MAX) return bad(l10n.t("{0} does not fit in 64 bits", quoted(raw)), l10n.t("Sizes and addresses are 64-bit quantities."));
  return ok(value);
}

export function parseAddress(raw: string): Parsed<bigint> {
  const v = parseInteger(raw);
  if (v === undefined) return bad(l10n.t("{0} is not an address", quoted(raw)), l10n.t("Write an address as hex (0x7c34_6000) or decimal."));
  if (v > U64_MAX) return bad(l10n.t("{0} does not fit in 64 bits", quoted(raw)), l10n.t("Addresses are 64-bit: at most 0xffff_ffff_ffff_ffff."));
  return ok(v);
}

/** A BDF as the scenario format writes it: sim/bdf.ts parseBdf, the one parser. */
export function parseBdf(raw: string): Parsed<{ bdf: Bdf; key: string }> {
  const p = parseBdfText(raw);
  return p.ok ? ok({ bdf: p.bdf, key: p.key }) : bad(p.message, p.hint);
}

export function parseDuration(raw: string): Parsed<bigint> {
  const m = /^\s*([0-9][0-9_]*)\s*(ns|us|\u00b5s|ms|s)?\s*$/i.exec(raw);
  if (!m) return bad(l10n.t("{0} is not a duration", quoted(raw)), l10n.t("Write a duration like 5s, 10ms, 3us or 100ns."));
  const n = BigInt(m[1]!.replace(/_/g, ""));
  const unit = (m[2] ?? "ns").toLowerCase();
  const mult = unit === "s" ? 1_000_000_000n : unit === "ms" ? 1_000_000n : unit === "ns" ? 1n : 1_000n;
  return ok(n * mult);
}

export function parsePerm(raw: string): Parsed<Perm> {
  const s = raw.trim().toLowerCase();
  if (s === "r" || s === "read") return ok("r");
  if (s === "w" || s === "write") return ok("w");
  if (s === "rw" || s === "read-write" || s === "wr") return ok("rw");
  return bad(l10n.t("{0} is not a permission", quoted(raw)), l10n.t("Use r, w or rw."));
}

/**
 * Work done by editDistance (cells of the table filled), for tests that check a hint stays cheap
 * on huge input. Only ever incremented.
 */
export const hintWork = { cells: 0 };

/** Edit distance with adjacent transpositions (optimal string alignment), for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  hintWork.cells += a.length * b.length;
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The option a mistyped word most likely meant, if it is close enough (at most max(2, length/3)
 * edits). The distance is at least the difference in length, so an option whose length differs by
 * more than that bound is skipped without comparing: a huge word (a 1 MB key) costs no table at all.
 */
export function didYouMean(word: string, options: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(word.length / 3));
  let lower: string | undefined;
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    if (Math.abs(word.length - o.length) > limit) continue;
    lower ??= word.toLowerCase();
    const d = editDistance(lower, o);
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return best !== undefined && bestD <= limit ? best : undefined;
}

/** A user's text for a message: quoted, and cut to its first characters when it is long. */
export function quoted(s: string, max = 60): string {
  const shown = s.length <= max ? `"${visible(s)}"` : `"${visible(s.slice(0, max))}…" (${s.length} characters)`;
  return shown;
}

/** Control characters, bidi overrides and invisible characters: they hide or rewrite what a message shows (in a terminal too). */
const HIDDEN = /[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/** The text with each hidden character written as \u{XXXX}. */
export function visible(s: string): string {
  return s.replace(HIDDEN, (c) => `\\u{${c.charCodeAt(0).toString(16).toUpperCase()}}`);
}
