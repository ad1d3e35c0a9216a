/**
 * Re-parsing after an edit without re-parsing what did not change. A scenario's bulk is its
 * workload, and an edit touches one item: the text is cut at the top-level `workload:` key, the
 * head (host, vms) is parsed as a document of its own, and each workload item is parsed on its
 * own and cached by its text; an unchanged item is reused with its ranges moved to where it now
 * sits. Anything this cut cannot prove safe (flow-style workload, keys after it, anchors, tabs,
 * document markers, an item that is not one clean YAML sequence item) falls back to the full
 * parse — the result is the same either way (a property test checks it on random edits).
 */
import { parseScenario as parseFull, parseWorkloadItem } from "./parse.js";
import type { Diagnostic, ParseResult, SourceRange, Step } from "./types.js";
import { validateScenario } from "./validate.js";

const MAX_STEPS = 100_000;

interface CachedItem {
  step?: Step;
  diagnostics: Diagnostic[];
}

interface Cut {
  /** Text up to and including the `workload:` line's newline. */
  head: string;
  /** The head as a document of its own: the same text up to `workload:`, then ` []`. */
  headDoc: string;
  /** [start offset, start line] of each item's text. */
  items: { start: number; line: number; text: string }[];
}

/** Cuts the text into head + workload items, or undefined when the cut is not provably safe. */
export function cutWorkload(text: string): Cut | undefined {
  const m = /^workload:[ ]*(#[^\n]*)?\r?\n/m.exec(text);
  if (!m || m.index === undefined) return undefined;
  const bodyStart = m.index + m[0].length;
  if (/^workload\s*:/m.test(text.slice(bodyStart))) return undefined;
  const body = text.slice(bodyStart);
  // Constructs whose meaning crosses item boundaries, or that the cut could split.
  if (/[\t&*]|^(---|\.\.\.)|<</m.test(body.replace(/"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|#[^\n]*/g, ""))) return undefined;
  let line = text.slice(0, bodyStart).split("\n").length - 1;
  const items: Cut["items"] = [];
  let indent = -1;
  let offset = bodyStart;
  let current: { start: number; line: number } | undefined;
  for (const raw of body.split("\n")) {
    const content = raw.replace(/\r$/, "");
    const trimmed = content.trimStart();
    const ind = content.length - trimmed.length;
    if (trimmed !== "" && !trimmed.startsWith("#")) {
      if (indent < 0) {
        if (!/^-( |$)/.test(trimmed)) return undefined;
        indent = ind;
      }
      if (ind < indent) return undefined; // something after the workload: let the full parse judge
      if (ind === indent) {
        if (!/^-( |$)/.test(trimmed)) return undefined;
        if (current) items.push({ ...current, text: text.slice(current.start, offset) });
        current = { start: offset, line };
      }
    } else if (current === undefined && trimmed !== "") {
      // A comment before the first item belongs to no item: fine, it is skipped.
    }
    offset += raw.length + 1;
    line++;
  }
  if (current) items.push({ ...current, text: text.slice(current.start, Math.min(offset, text.length)) });
  if (items.length === 0) return undefined; // `workload:` with no items: the full parse reports it
  return { head: text.slice(0, bodyStart), headDoc: `${text.slice(0, m.index + "workload:".length)} []\n`, items };
}

function shifted(r: SourceRange, dOffset: number, dLine: number): SourceRange {
  return { start: r.start + dOffset, end: r.end + dOffset, line: r.line + dLine, column: r.column };
}

function placeStep(step: Step, index: number, dOffset: number, dLine: number): Step {
  const s = { ...step, index, range: shifted(step.range, dOffset, dLine) } as Step;
  if (step.expect) s.expect = { ...step.expect, range: shifted(step.expect.range, dOffset, dLine) };
  if (step.op === "poke" && step.target) (s as Extract<Step, { op: "poke" }>).target = { ...step.target };
  return s;
}

/** An item as the last incremental parse placed it: its step and diagnostics at its offsets. */
interface PlacedItem {
  text: string;
  start: number;
  line: number;
  /** Index its step got (the number of steps before it). */
  index: number;
  step?: Step;
  diagnostics: Diagnostic[];
}

export class IncrementalScenarioParser {
  private cache = new Map<string, CachedItem>();
  /**
   * The last incremental parse's items in order. An item with the same text at the same offset,
   * line and step index is placed exactly as it was, so its step and diagnostics are reused (steps
   * and diagnostics are never changed once made) instead of copied again: an edit near the end of
   * 1 000 items no longer re-creates the 999 before it.
   */
  private placed: PlacedItem[] = [];
  /** The last head document and its parse (the head of a scenario rarely changes while its workload is edited). */
  private head?: { doc: string; file: string; result: ParseResult };
  /** How the last parse went (for tests and the log): items reused from the cache, or a full parse. */
  last: { mode: "incremental" | "full"; reused: number; parsed: number } = { mode: "full", reused: 0, parsed: 0 };
  /**
   * The source text of the last parse's head and of each workload item, when it was parsed
   * incrementally (undefined after a full parse). Two parses with the same head and the same first
   * k items have the same host, VMs and first k steps, ranges included: a run can resume there.
   */
  lastCut?: { head: string; items: readonly string[] };

  /** `opts.progress` is called while parsing (every item here, and as the full parse calls it): a sign of life. */
  parse(text: string, file: string, opts?: { progress?: () => void }): ParseResult {
    const cut = cutWorkload(text);
    const result = cut ? this.incremental(file, cut, opts?.progress) : undefined;
    if (result) return result;
    this.lastCut = undefined;
    this.cache.clear();
    this.placed = [];
    this.head = undefined;
    this.last = { mode: "full", reused: 0, parsed: 0 };
    return withValidation(parseFull(text, file, opts));
  }

  private incremental(file: string, cut: Cut, progress?: () => void): ParseResult | undefined {
    if (cut.items.length > MAX_STEPS) return undefined;
    const next = new Map<string, CachedItem>();
    const steps: Step[] = [];
    const diagnostics: Diagnostic[] = [];
    const placed: PlacedItem[] = [];
    let reused = 0;
    let parsed = 0;
    for (let i = 0; i < cut.items.length; i++) {
      const item = cut.items[i]!;
      progress?.();
      let c = next.get(item.text) ?? this.cache.get(item.text);
      if (c) reused++;
      else {
        c = parseWorkloadItem(item.text);
        if (!c) return undefined;
        parsed++;
      }
      next.set(item.text, c);
      const was = this.placed[i];
      let p: PlacedItem;
      if (was !== undefined && was.start === item.start && was.line === item.line && was.index === steps.length && was.text === item.text) p = was;
      else {
        p = { text: item.text, start: item.start, line: item.line, index: steps.length, diagnostics: c.diagnostics.map((d) => ({ ...d, range: shifted(d.range, item.start, item.line) })) };
        if (c.step) p.step = placeStep(c.step, steps.length, item.start, item.line);
      }
      placed.push(p);
      for (const d of p.diagnostics) diagnostics.push(d);
      if (p.step) steps.push(p.step);
    }
    // The head is a document of its own: same offsets, `workload:` with no value.
    const head = this.head !== undefined && this.head.doc === cut.headDoc && this.head.file === file ? this.head.result : parseFull(cut.headDoc, file, progress ? { progress } : undefined);
    // A broken head: YAML's error recovery reads on into the workload, so only the whole text
    // gives the same diagnostics.
    if (head.diagnostics.some((d) => d.code === "yaml-syntax")) return undefined;
    this.head = { doc: cut.headDoc, file, result: head };
    this.placed = placed;
    this.cache = next;
    this.last = { mode: "incremental", reused, parsed };
    this.lastCut = { head: cut.head, items: cut.items.map((i) => i.text) };
    const all = [...head.diagnostics, ...diagnostics];
    if (head.scenario === undefined || all.some((d) => d.severity === "error")) return { diagnostics: all };
    return withValidation({ scenario: { ...head.scenario, workload: steps }, diagnostics: all });
  }
}

function withValidation(parsed: ParseResult): ParseResult {
  if (parsed.scenario === undefined) return parsed;
  const semantic = validateScenario(parsed.scenario);
  const diagnostics = [...parsed.diagnostics, ...semantic];
  if (semantic.some((d) => d.severity === "error")) return { diagnostics };
  return { scenario: parsed.scenario, diagnostics };
}
