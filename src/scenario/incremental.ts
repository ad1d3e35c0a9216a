/**
 * Re-parsing after an edit without re-parsing what did not change. A scenario's bulk is its
 * workload, and an edit touches one item: the text is cut at the top-level `workload:` key, the
 * head (host, vms) is parsed as a document of its own, and each workload item is parsed on its
 * own and cached by its text; an unchanged item is reused with its ranges moved to where it now
 * sits. Anything this cut cannot prove safe (flow-style workload, keys after it, anchors, tabs,
 * document markers, an item that is not one clean YAML sequence item) falls back to the full
 * parse — the result is the same either way (a property test checks it on random edits).
 */
import { cutWorkload, type Cut } from "./cut.js";
import { Ticker, parseScenario as parseFull, parseWorkloadItem, type ParseOptions } from "./parse.js";
import type { Diagnostic, ParseResult, SourceRange, Step } from "./types.js";
import { validateScenario } from "./validate.js";

const MAX_STEPS = 100_000;

export { cutWorkload };

interface CachedItem {
  step?: Step;
  diagnostics: Diagnostic[];
}

function shifted(r: SourceRange, dOffset: number, dLine: number): SourceRange {
  return { start: r.start + dOffset, end: r.end + dOffset, line: r.line + dLine, column: r.column };
}

function placeStep(step: Step, index: number, dOffset: number, dLine: number): Step {
  const s = { ...step, index, range: shifted(step.range, dOffset, dLine) };
  if (step.expect) s.expect = { ...step.expect, range: shifted(step.expect.range, dOffset, dLine) };
  if (step.op === "poke" && step.target) (s as Extract<Step, { op: "poke" }>).target = { ...step.target };
  if (step.op === "dma" && step.transfers) (s as Extract<Step, { op: "dma" }>).transfers = step.transfers.map((t) => ({ ...t, range: shifted(t.range, dOffset, dLine) }));
  if (step.op === "bind-pasid") (s as Extract<Step, { op: "bind-pasid" }>).maps = step.maps.map((m) => ({ ...m, range: shifted(m.range, dOffset, dLine) }));
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

  /** `opts.progress` is called every PROGRESS_EVERY items, lines, nodes and steps, as parseScenario does. */
  parse(text: string, file: string, opts: ParseOptions = {}): ParseResult {
    const cut = cutWorkload(text);
    const result = cut ? this.incremental(file, cut, opts) : undefined;
    if (result) return result;
    this.lastCut = undefined;
    this.cache.clear();
    this.placed = [];
    this.head = undefined;
    this.last = { mode: "full", reused: 0, parsed: 0 };
    return withValidation(parseFull(text, file, opts), opts);
  }

  private incremental(file: string, cut: Cut, opts: ParseOptions): ParseResult | undefined {
    const ticker = new Ticker(opts.progress);
    if (cut.items.length > MAX_STEPS) return undefined;
    const next = new Map<string, CachedItem>();
    const steps: Step[] = [];
    const diagnostics: Diagnostic[] = [];
    const placed: PlacedItem[] = [];
    let reused = 0;
    let parsed = 0;
    for (let i = 0; i < cut.items.length; i++) {
      const item = cut.items[i]!;
      ticker.tick();
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
    const head = this.head !== undefined && this.head.doc === cut.headDoc && this.head.file === file ? this.head.result : parseFull(cut.headDoc, file, opts);
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
    return withValidation({ scenario: { ...head.scenario, workload: steps }, diagnostics: all }, opts);
  }
}

function withValidation(parsed: ParseResult, opts: ParseOptions): ParseResult {
  if (parsed.scenario === undefined) return parsed;
  const semantic = validateScenario(parsed.scenario, opts);
  const diagnostics = [...parsed.diagnostics, ...semantic];
  if (semantic.some((d) => d.severity === "error")) return { diagnostics };
  return { scenario: parsed.scenario, diagnostics };
}
