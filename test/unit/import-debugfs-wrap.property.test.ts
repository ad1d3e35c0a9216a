/**
 * debugfs rows wrapped by a mail client or a terminal (import/debugfs.ts rejoin): a
 * dmar_translation_struct row is 146 columns and a domain_translation_struct row 113, so a paste
 * in a mail (hard-wrapped at 72-78 columns, the continuation indented or quoted, tabs expanded or
 * not) or from a narrow terminal (cut at the width, inside a token) splits them. Property: wrapping
 * any valid dump at any width from 60 columns, in any of these styles, gives the same records.
 * Samples: the two Kabylake fixtures (test/fixtures/README.md) and rows of each kernel generation
 * rendered from the seq_printf formats of drivers/iommu/intel/debugfs.c (v4.20 context rows
 * without the PASID columns, v6.4+ page-table rows that end at their leaf).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeEvidenceText } from "../../src/import/decode.js";
import { parseDebugfs } from "../../src/import/debugfs.js";
import { hostTablesScenario } from "../../src/import/hostTables.js";

const fixture = (name: string) => readFileSync(join(__dirname, "..", "fixtures", "evidence", name), "utf8");
const pad = (v: number) => `0x${v.toString(16).padStart(16, "0")}`;
const older = [
  "IOMMU dmar2: Root Table Address: 0x200000000",
  "B.D.F\tRoot_entry\t\t\t\tContext_entry",
  // v4.20 print_tbl_walk: no PASID columns.
  `01:00.0\t${pad(0)}:${pad(0x200001001)}\t${pad(0x102)}:${pad(0x200002005)}`,
  "Device 0000:01:00.0 @0x200002000",
  "IOVA_PFN         \tPML5E             \tPML4E             \tPDPE              \tPDE               \tPTE",
  // v6.4+ dump_page_info: a 2 MiB leaf row ends at its PDE, a 4 KiB one at its PTE.
  `0x0000000000200 |\t${pad(0)}\t${pad(0x200003003)}\t${pad(0x200004003)}\t${pad(0x300200083)}`,
  `0x0000000000400 |\t${pad(0)}\t${pad(0x200003003)}\t${pad(0x200004003)}\t${pad(0x200005003)}\t${pad(0x300400003)}`,
].join("\n");
const DUMPS = [fixture("debugfs-kabylake.txt"), fixture("debugfs-kabylake-sm.txt"), older];

type Style = { kind: "mail"; space: "eat" | "keep" | "down"; indent: string; quote: boolean; expandTabs: boolean } | { kind: "terminal" };

/** One line wrapped at `width` columns the way `style` does it. */
function wrapLine(line: string, width: number, style: Style): string[] {
  const out: string[] = [];
  let rest = line;
  let first = true;
  const prefix = () => (style.kind === "mail" && !first ? style.indent : "");
  while (prefix().length + rest.length > width) {
    const room = width - prefix().length;
    let cut = room;
    let eat = 0;
    let keepEnd = false;
    if (style.kind === "mail") {
      const ws = Math.max(rest.lastIndexOf(" ", room), rest.lastIndexOf("\t", room));
      if (ws > 0) {
        cut = ws;
        if (style.space === "eat") eat = 1;
        else if (style.space === "keep") keepEnd = true;
      }
    }
    out.push(prefix() + rest.slice(0, keepEnd ? cut + 1 : cut));
    rest = rest.slice(keepEnd ? cut + 1 : cut + eat);
    first = false;
  }
  out.push(prefix() + rest);
  return out;
}

function wrap(text: string, width: number, style: Style): string {
  const lines = text.split("\n").map((l) => (style.kind === "mail" && style.expandTabs ? l.replace(/\t/g, "    ") : l));
  const wrapped = lines.flatMap((l) => wrapLine(l, width, style));
  return (style.kind === "mail" && style.quote ? wrapped.map((l) => `> ${l}`) : wrapped).join("\n");
}

const style: fc.Arbitrary<Style> = fc.oneof(
  fc.record({ kind: fc.constant("mail" as const), space: fc.constantFrom("eat" as const, "keep" as const, "down" as const), indent: fc.constantFrom("", " ", "  ", "\t"), quote: fc.boolean(), expandTabs: fc.boolean() }),
  fc.constant({ kind: "terminal" as const }),
);
/** What a record says, not where it is. */
const facts = (text: string) => parseDebugfs(text.split("\n")).map((r) => JSON.stringify(r.fields));

describe("debugfs rows wrapped by a mail client or a terminal are rejoined", () => {
  it("property: any valid dump wrapped at any width from 60 columns, in any style, gives the same records", () => {
    fc.assert(
      fc.property(fc.constantFrom(...DUMPS), fc.integer({ min: 60, max: 150 }), style, (dump, width, st) => {
        expect(facts(wrap(dump, width, st))).toEqual(facts(dump));
      }),
      { numRuns: 300 },
    );
  });

  it("a context row cut at 72 columns by a mail client: one record spanning its lines, said to be joined; nothing skipped; the host tables are the same", () => {
    const dump = fixture("debugfs-kabylake-sm.txt");
    const mail = wrap(dump, 72, { kind: "mail", space: "eat", indent: "", quote: true, expandTabs: false });
    const d = decodeEvidenceText(mail);
    const row = d.records.find((r) => r.fields.part === "context" && r.fields.device === "00:0a.0")!;
    expect(row.endLine).toBeGreaterThan(row.line);
    expect(row.context.map((c) => c.text)).toContain(`(a wrapped row: ${row.endLine - row.line + 1} lines joined)`);
    // Skipped: the shell prompts and the quoted blank lines only.
    const lines = mail.split("\n");
    const skipped = d.skipped.flatMap((s) => lines.slice(s.line, s.endLine + 1));
    expect(skipped.filter((l) => !/^> (?:\$ sudo cat .*)?$/.test(l))).toEqual([]);
    const a = hostTablesScenario(decodeEvidenceText(dump).records, "t", { unit: "dmar0" }).text;
    const b = hostTablesScenario(d.records, "t", { unit: "dmar0" }).text;
    // Same pokes (the comments name other line numbers).
    const pokes = (x: string) => x.split("\n").filter((l) => l.includes("poke:"));
    expect(pokes(b)).toEqual(pokes(a));
  });

  it("ambiguous or foreign continuations are not joined: a cut row followed by another row start, or by prose, stays skipped", () => {
    const row = `00:02.0\t${pad(0)}:${pad(0x10303e001)}\t${pad(0x102)}:${pad(0x1017f8005)}\t-1    \t${pad(0)}:${pad(0)}:${pad(0)}`;
    const cut = row.slice(0, 70);
    expect(parseDebugfs([cut, row])).toHaveLength(1); // the next row is its own, not a continuation
    expect(parseDebugfs([cut, "see the attached log for the rest"])).toHaveLength(0);
    // A whole v4.20 row followed by prose: still one record, nothing joined.
    const v420 = row.slice(0, row.indexOf("\t-1"));
    const r = parseDebugfs([v420, "thanks"]);
    expect(r).toHaveLength(1);
    expect(r[0]!.endLine).toBe(0);
  });
});
