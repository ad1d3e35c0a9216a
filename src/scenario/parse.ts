/**
 * `*.passthrough.yaml` -> typed Scenario with source ranges, or diagnostics. Parsed with the
 * `yaml` package (which keeps every node's range); numbers are read from the source text, never
 * through a float. Never throws: every problem becomes a Diagnostic with a range and a hint.
 */
import { LineCounter, Scalar, YAMLMap, YAMLSeq, isAlias, isCollection, isMap, isScalar, isSeq, type Document, type Node, type Pair } from "yaml";
import { PASID_MODES, POKE_REGISTERS, POKE_STRUCTURES, type PasidMapSpec, type Diagnostic, type DiagnosticCode, type AcsOverrideSpec, type DmaTransferSpec, type Expectation, type HostSpec, type IommuSpec, type IrteStepSpec, type MsiStepSpec, type PostedDescriptorStepSpec, type ParseResult, type PciDeviceSpec, type PciKind, type RmrrSpec, type Scenario, type Severity, type SourceRange, type Step, type UnityMapSpec, type VmSpec, type LibvirtMemSpec, type IommufdStepSpec, IOMMUFD_IOCTLS, type IvhdBlockSpec, type AtsDeviceSpec, type KernelParamsSpec, type IommuUnitSpec } from "./types.js";
import { LineIndex, syntaxDiagnostics, trustedDespiteSyntaxErrors } from "./syntax.js";
import { cutWorkload } from "./cut.js";
import { normalizeLineBreaks, parseYaml, tooDeepDiagnostic, utf16ReadAsUtf8 } from "./text.js";
import { FlatDma, fastDmaItem, fastItem, fastSequence } from "./fastItems.js";
import { expandVfs } from "./sriov.js";
import { IVHD_DEV_ALIAS, IVHD_DEV_ALIAS_RANGE, IVHD_DEV_ALL, IVHD_DEV_EXT_SELECT, IVHD_DEV_EXT_SELECT_RANGE, IVHD_DEV_RANGE_END, IVHD_DEV_SELECT, IVHD_DEV_SELECT_RANGE_START, IVHD_DEV_SPECIAL, IVHD_SPECIAL_HPET, IVHD_SPECIAL_IOAPIC, aliasExt, decodeIvhd, ivhdEntry4, ivhdEntry8, parseHexBytes } from "./ivhd.js";
import { acsOverrideActive, parseAcsOverride } from "./acsOverride.js";
import { didYouMean, parseAddress, parseBdf, parseDuration, parsePerm, parseSize, quoted, type Parsed } from "./values.js";
import * as l10n from "@vscode/l10n";
import { amdviIommuSpec, smmuv3IommuSpec } from "./iommuSpecs.js";
import { unitIndexOfDevice } from "./iommuUnits.js";

const MAX_TEXT = 5_000_000;
const MAX_STEPS = 100_000;
/** Nodes the aliases of one scenario may repeat (each alias of a collection counts its nodes). */
const MAX_ALIAS_NODES = 1_000_000;
/** Characters that do not show in an editor: a BOM in the middle of a text, zero-width spaces and joiners, the word joiner, a soft hyphen. */
const INVISIBLE = /[\ufeff\u200b-\u200d\u2060\u00ad]/;
// 4 KiB-backed guests are mapped page by page: 2^18 frames (1 GiB) start and stop in about 2 s.
const MAX_FRAMES_PER_VM = 1n << 18n;
const PCI_KINDS: PciKind[] = ["host-bridge", "root-port", "switch-upstream", "switch-downstream", "pcie-pci-bridge", "endpoint", "integrated"];
const BRIDGE_KINDS = new Set<PciKind>(["root-port", "switch-upstream", "switch-downstream", "pcie-pci-bridge"]);
export const STEP_OPS = ["start", "stop", "assign", "detach", "map", "unmap", "guest-map", "guest-unmap", "dma", "invalidate", "poke", "translate", "wait", "bind-pasid", "unbind-pasid", "irte", "msi", "iommufd", "posted-descriptor", "page-response", "page-request", "munmap", "process-exit", "emulated-dma"] as const;
export const ERRNOS = ["EINVAL", "EEXIST", "ENOSPC", "ENOMEM", "EFAULT", "EPERM", "EBUSY", "ENOENT", "ENODEV", "EIO", "EOVERFLOW", "EOPNOTSUPP"];
const GRANULARITIES = ["global", "domain", "page", "context-global", "context-domain", "context-device", "pasid-cache", "pasid", "pasid-page", "interrupt-global", "interrupt-entry", "device-tlb"] as const;

type Fields = Map<string, { key: Node; value: Node | null }>;

/** Options of a parse. */
export interface ParseOptions {
  /**
   * Called every PROGRESS_EVERY lines read and nodes checked (a counter, never a clock), so a host
   * that watches a worker for hangs sees a long parse of a huge scenario making progress.
   */
  progress?: () => void;
}

export const PROGRESS_EVERY = 2048;

/** Counts work and calls the progress hook every PROGRESS_EVERY units. */
export class Ticker {
  private n = 0;
  constructor(private readonly progress?: () => void) {}
  tick(): void {
    if (this.progress !== undefined && ++this.n % PROGRESS_EVERY === 0) this.progress();
  }
}

/** The parse options every parse of scenario text uses (uniqueKeys is checked by Reader.fields). */
const YAML_OPTIONS = { intAsBigInt: true, uniqueKeys: false, prettyErrors: false, strict: true } as const;
/** What a scalar holds under YAML_OPTIONS (the YAML 1.2 core schema, integers as bigint) once null is ruled out. */
type ScalarValue = string | number | bigint | boolean;

class Reader {
  readonly diagnostics: Diagnostic[] = [];
  /** Scalars read through an alias (their range is the alias's) -> the anchored scalar. */
  private readonly aliased = new WeakMap<Node, Scalar>();
  /** Nodes still to be read through aliases before an alias is refused (a "billion laughs" bound). */
  private aliasBudget = MAX_ALIAS_NODES;
  private readonly aliasSizes = new WeakMap<Node, number>();
  constructor(
    readonly text: string,
    private readonly lc: LineIndex,
    readonly ticker: Ticker = new Ticker(),
    private readonly doc?: Document,
  ) {}

  /**
   * The node an alias (*name) stands for: a scalar as a copy at the alias (so a problem with it is
   * shown where it is used, with the anchored text), a collection as itself.
   */
  deref(node: Node | null | undefined): Node | null {
    if (node === undefined || node === null) return null;
    if (!isAlias(node)) return node;
    const target = this.doc === undefined ? undefined : node.resolve(this.doc);
    const here = (): Scalar => {
      const s = new Scalar(null);
      s.range = node.range ?? undefined;
      return s;
    };
    if (target === undefined) return here(); // yaml reported the unknown anchor
    if (isScalar(target)) {
      const s = target.clone() as Scalar;
      s.range = node.range ?? target.range;
      this.aliased.set(s, target);
      return s;
    }
    const size = this.subtreeSize(target);
    if (size > this.aliasBudget) {
      // Reported once; this and later aliases of collections read as empty ones (no cascade).
      if (this.aliasBudget >= 0) this.error(node, "too-large", `the aliases (*name) in this scenario repeat more than ${MAX_ALIAS_NODES} nodes`, "Write the repeated parts out, or alias fewer or smaller collections.");
      this.aliasBudget = -1;
      const empty = isMap(target) ? new YAMLMap() : new YAMLSeq();
      empty.range = node.range ?? undefined;
      return empty;
    }
    this.aliasBudget -= size;
    return target;
  }

  private subtreeSize(root: Node): number {
    const known = this.aliasSizes.get(root);
    if (known !== undefined) return known;
    let n = 0;
    const todo: unknown[] = [root];
    while (todo.length > 0 && n <= MAX_ALIAS_NODES) {
      const x = todo.pop();
      n++;
      if (isCollection(x)) for (const it of x.items) todo.push(isMap(x) ? (it as Pair).value : it);
    }
    this.aliasSizes.set(root, n);
    return n;
  }

  /** A pair's value, through an alias; a key without a value (`{ device, iova: 1 }`) as an empty value at the key. */
  valueOf(pair: Pair<Node, Node | null>): Node {
    const v = this.deref(pair.value);
    if (v !== null) return v;
    const s = new Scalar(null);
    if (pair.key?.range) s.range = [pair.key.range[0], pair.key.range[1], pair.key.range[1]];
    return s;
  }

  range(node: Node | null | undefined, fallback?: SourceRange): SourceRange {
    const r = node?.range;
    if (!r) return fallback ?? { start: 0, end: 0, line: 0, column: 0 };
    return sourceRange(this.text, this.lc, r[0], r[1]);
  }

  report(severity: Severity, node: Node | null | undefined, code: DiagnosticCode, message: string, hint?: string, fallback?: SourceRange): void {
    this.diagnostics.push({ severity, code, message, ...(hint !== undefined ? { hint } : {}), range: this.range(node, fallback) });
  }

  error(node: Node | null | undefined, code: DiagnosticCode, message: string, hint?: string, fallback?: SourceRange): void {
    this.report("error", node, code, message, hint, fallback);
  }

  /** The mapping's entries; unknown keys get a warning with a did-you-mean hint. */
  fields(node: Node | null, known: readonly string[], where: string): Fields | undefined {
    node = this.deref(node);
    if (!isMap(node)) {
      this.error(node, "expected-mapping", l10n.t("{0} must be a mapping of keys to values", where), l10n.t("Write {0} as \"key: value\" lines or { key: value, ... }.", where));
      return undefined;
    }
    const out: Fields = new Map();
    for (const pair of node.items as Pair<Node, Node | null>[]) {
      this.ticker.tick();
      let k = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (k === undefined) {
        this.error(pair.key, "key-not-scalar", l10n.t("a key in {0} is not a plain name", where), l10n.t("Keys are plain words like `memory` or `iommu`."));
        continue;
      }
      const invisible = INVISIBLE.exec(k);
      if (invisible !== null) k = this.invisibleInKey(pair.key, k, invisible[0]);
      if (!known.includes(k)) {
        const slipped = this.missingSpace(pair, known);
        if (slipped !== undefined) {
          if (!out.has(slipped.key)) out.set(slipped.key, { key: pair.key, value: slipped.value });
          continue;
        }
        const near = didYouMean(k, known);
        this.report("warning", pair.key, "unknown-key", l10n.t("unknown key {0} in {1}", quoted(k), where), near ? l10n.t("Did you mean \"{0}\"?", near) : l10n.t("Known keys: {0}.", known.join(", ")));
        continue;
      }
      // Duplicate keys are found here, with the Map, not by the yaml library's uniqueKeys (which
      // compares each key with every earlier one: quadratic in the size of a mapping).
      if (out.has(k)) {
        this.duplicate(pair.key, k, where);
        continue;
      }
      out.set(k, { key: pair.key, value: this.valueOf(pair) });
    }
    return out;
  }

  /** A key with an invisible character (a BOM where two files were joined, a zero-width space): warn at it, read the key without it. */
  private invisibleInKey(key: Node, k: string, ch: string): string {
    const clean = k.replace(new RegExp(INVISIBLE.source, "g"), "");
    const r = key.range;
    let at = r ? this.text.indexOf(ch, r[0]) : -1;
    if (r && (at < 0 || at >= r[1])) at = r[0];
    const code = `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
    const what = ch === "\ufeff" ? l10n.t(" (a byte-order mark, often left where two files were joined)") : "";
    const range = at < 0 ? this.range(key) : { start: at, end: at + 1, line: this.lc.linePos(at).line - 1, column: this.lc.linePos(at).col - 1 };
    this.diagnostics.push({ severity: "warning", code: "invisible-character", message: l10n.t("invisible {0}{1} in key {2}", code, what, quoted(clean)), hint: l10n.t("Delete the invisible character before or inside {0}; it is read as {0} meanwhile.", quoted(clean)), range });
    return clean;
  }

  duplicate(key: Node, k: string, where: string): void {
    this.error(key, "duplicate-key", l10n.t("\"{0}\" appears twice in {1}", k, where), l10n.t("Keep one \"{0}:\" line; YAML does not allow a key twice in one mapping.", k));
  }

  /**
   * `{ bdf:"01:00.0" }`: without a space after the colon YAML reads one key `bdf:"01:00.0"` with
   * no value. When the part before the colon is a known key, say so, and read the rest as its value
   * (so the device is not also reported missing everywhere it is used).
   */
  private missingSpace(pair: Pair<Node, Node | null>, known: readonly string[]): { key: string; value: Node | null } | undefined {
    const key = pair.key;
    if (!isScalar(key) || key.type !== "PLAIN" || typeof key.value !== "string" || !key.range) return undefined;
    if (pair.value !== null && pair.value !== undefined && !(isScalar(pair.value) && pair.value.value === null)) return undefined;
    const colon = key.value.indexOf(":");
    const name = key.value.slice(0, colon);
    if (colon <= 0 || !known.includes(name)) return undefined;
    const rest = key.value.slice(colon + 1);
    const restStart = key.range[0] + colon + 1;
    if (this.text.slice(restStart, restStart + rest.length) !== rest) return undefined;
    const parsed = parseYaml(rest, YAML_OPTIONS);
    const doc = "doc" in parsed ? parsed.doc : undefined;
    const v = (doc?.contents ?? null) as Node | null;
    const ok = doc !== undefined && doc.errors.length === 0 && isScalar(v) && v.range !== undefined && v.range !== null;
    const at = { start: key.range[0], end: restStart, line: 0, column: 0 };
    const pos = this.lc.linePos(at.start);
    this.diagnostics.push({
      severity: "error",
      code: "missing-space",
      message: l10n.t("{0} is read as one word: YAML needs a space after the colon", quoted(key.value)),
      hint: l10n.t("Add a space after ':' ({0}: {1}).", name, rest.length > 40 ? `${rest.slice(0, 40)}…` : rest),
      range: { ...at, line: pos.line - 1, column: pos.col - 1 },
    });
    if (!ok || !isScalar(v)) return { key: name, value: this.valueOf({ key, value: null } as unknown as Pair<Node, Node | null>) };
    const r = v.range!;
    v.range = [r[0] + restStart, r[1] + restStart, r[2] + restStart];
    return { key: name, value: v };
  }

  raw(node: Node | null): string | undefined {
    if (!isScalar(node)) return undefined;
    if (node.value === null) return undefined;
    const r = (this.aliased.get(node) ?? node).range;
    if (r && (node.type === "PLAIN" || node.type === undefined)) return this.text.slice(r[0], r[1]);
    return (node.value as ScalarValue).toString();
  }

  str(node: Node | null, what: string): string | undefined {
    if (isScalar(node) && node.value !== null && typeof node.value !== "object") return (node.value as ScalarValue).toString();
    this.error(node, "expected-string", l10n.t("{0} must be a text value", what), l10n.t("Write {0} as a plain word or in quotes.", what));
    return undefined;
  }

  bool(node: Node | null, what: string): boolean | undefined {
    if (isScalar(node) && typeof node.value === "boolean") return node.value;
    this.error(node, "expected-boolean", l10n.t("{0} must be true or false", what), l10n.t("Write true or false."));
    return undefined;
  }

  int(node: Node | null, what: string, min: number, max: number): number | undefined {
    const raw = this.raw(node);
    const v = raw === undefined ? undefined : parseAddress(raw);
    if (v === undefined || !v.ok || v.value < BigInt(min) || v.value > BigInt(max)) {
      this.error(node, "out-of-range", l10n.t("{0} must be an integer from {1} to {2}{3}", what, min, max, raw !== undefined ? `, not ${quoted(raw)}` : ""), l10n.t("Use a value between {0} and {1}.", min, max));
      return undefined;
    }
    return Number(v.value);
  }

  parsed<T>(node: Node | null, what: string, code: DiagnosticCode, parse: (raw: string) => Parsed<T>): T | undefined {
    const raw = this.raw(node);
    if (raw === undefined) {
      this.error(node, code, l10n.t("{0} is missing a value", what), l10n.t("Give it a value."));
      return undefined;
    }
    const r = parse(raw);
    if (!r.ok) {
      this.error(node, code, `${what}: ${r.message}`, r.hint);
      return undefined;
    }
    return r.value;
  }

  size = (n: Node | null, what: string) => this.parsed(n, what, "size-malformed", parseSize);
  addr = (n: Node | null, what: string) => this.parsed(n, what, "address-malformed", parseAddress);
  bdf = (n: Node | null, what: string) => this.parsed(n, what, "bdf-malformed", parseBdf);

  enumOf<T extends string>(node: Node | null, what: string, options: readonly T[]): T | undefined {
    const s = isScalar(node) && node.value !== null ? (node.value as ScalarValue).toString() : undefined;
    if (s !== undefined && (options as readonly string[]).includes(s)) return s as T;
    const near = s === undefined ? undefined : didYouMean(s, options);
    this.error(node, "invalid-value", l10n.t("{0} must be one of {1}{2}", what, options.join(", "), s !== undefined ? `, not ${quoted(s)}` : ""), near ? l10n.t("Did you mean \"{0}\"?", near) : l10n.t("Choose one of: {0}.", options.join(", ")));
    return undefined;
  }

  required(f: Fields, key: string, where: string, at: Node | null): Node | null | undefined {
    const e = f.get(key);
    if (e === undefined) {
      this.error(at, "missing-key", l10n.t("{0} needs \"{1}\"", where, key), l10n.t("Add \"{0}: ...\" to {1}.", key, where));
      return undefined;
    }
    return e.value;
  }
}

/** The SourceRange of a node's range [r0, r1) in `text`. */
function sourceRange(text: string, lc: LineIndex, r0: number, r1: number): SourceRange {
  const start = Math.min(r0, text.length);
  const pos = lc.linePos(start);
  return { start, end: Math.min(Math.max(r1, start), text.length), line: pos.line - 1, column: pos.col - 1 };
}

export function parseScenario(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  const encoding = utf16ReadAsUtf8(text);
  if (encoding !== undefined) return { diagnostics: [encoding] };
  text = normalizeLineBreaks(text);
  if (text.length > MAX_TEXT) {
    return { diagnostics: [{ severity: "error", code: "too-large", message: l10n.t("the scenario is {0} characters; the limit is {1}", text.length, MAX_TEXT), hint: l10n.t("Use repeat: on a dma step instead of many copies of it."), range: { start: 0, end: 0, line: 0, column: 0 } }] };
  }
  const ticker = new Ticker(opts.progress);
  // The yaml parser reports the newlines it reads to a line counter: count them as progress.
  const lineCounter = new LineCounter();
  if (opts.progress !== undefined) lineCounter.addNewLine = () => (ticker.tick(), 0);
  let doc: Document.Parsed;
  const lc = new LineIndex(text);
  try {
    const parsed = (fastPath.enabled ? fastDocument(text, ticker, lineCounter, opts, lc) : undefined) ?? parseYaml(text, { ...YAML_OPTIONS, ...(opts.progress !== undefined ? { lineCounter } : {}) });
    if ("tooDeep" in parsed) {
      const range = (offset: number) => {
        const p = lc.linePos(offset);
        return { start: offset, end: Math.min(offset + 1, text.length), line: p.line - 1, column: p.col - 1 };
      };
      return { diagnostics: [tooDeepDiagnostic(parsed.tooDeep, range)] };
    }
    doc = parsed.doc;
  } catch (e) {
    return { diagnostics: [{ severity: "error", code: "yaml-syntax", message: l10n.t("YAML could not be read: {0}", e instanceof Error ? e.message : String(e)), hint: l10n.t("Check indentation and brackets."), range: { start: 0, end: 0, line: 0, column: 0 } }] };
  }
  const r = new Reader(text, lc, ticker, doc);
  let scenario: Scenario | undefined;
  try {
    scenario = build(r, doc.contents, file);
  } catch (e) {
    // Defensive: the builder reports problems instead of throwing; anything else is our bug.
    r.error(null, "internal-error", l10n.t("the scenario could not be read: {0}", e instanceof Error ? e.message : String(e)), l10n.t("Please report this scenario as a bug."));
  }
  if (doc.errors.length > 0) {
    // One diagnostic per slip, then the checks of the parts YAML did read that can be trusted.
    const syntax = syntaxDiagnostics(text, lc, doc);
    const kept = r.diagnostics.filter((d) => trustedDespiteSyntaxErrors(d, syntax.broken));
    return { diagnostics: [...syntax.diagnostics, ...kept].sort((a, b) => a.range.start - b.range.start) };
  }
  if (scenario !== undefined && !r.diagnostics.some((d) => d.severity === "error")) return { scenario, diagnostics: r.diagnostics };
  return { diagnostics: r.diagnostics };
}

/** Whether parseScenario reads plain workload items itself (tests turn it off to compare with yaml's reading). */
export const fastPath = { enabled: true };

/**
 * The document of a scenario whose workload items are all plain (fastItems.ts): the head (host,
 * vms) parsed by yaml as a document of its own — the same text up to `workload:`, so the same
 * offsets — and the items read without it. Undefined when the cut or an item is not plain, or the
 * head has problems: the whole text then goes through yaml, which reports them as always.
 */
function fastDocument(text: string, ticker: Ticker, lineCounter: LineCounter, opts: ParseOptions, lc: LineIndex): { doc: Document.Parsed } | undefined {
  const cut = cutWorkload(text);
  if (cut === undefined || cut.items.length > MAX_STEPS) return undefined;
  const items = cut.items.map((it) => {
    ticker.tick();
    return { start: it.start, end: it.start + it.text.length };
  });
  const flat = new FlatDma();
  const seq = fastSequence(text, items, (start, end) => {
    if (!fastDmaItem(text, start, end, flat)) return undefined;
    const step = flatDmaStep(flat, sourceRange(text, lc, flat.m0, flat.m1), ticker);
    return step === undefined ? undefined : (new ReadStep(step, flat.m0, flat.m1) as unknown as Node);
  });
  if (seq === undefined) return undefined;
  const parsed = parseYaml(cut.headDoc, { ...YAML_OPTIONS, ...(opts.progress !== undefined ? { lineCounter } : {}) });
  if (!("doc" in parsed)) return undefined;
  const doc = parsed.doc;
  if (doc.errors.length > 0 || doc.warnings.length > 0 || !isMap(doc.contents)) return undefined;
  const pair = (doc.contents.items as Pair<Node, Node | null>[]).find((p) => isScalar(p.key) && p.key.value === "workload");
  if (pair === undefined || !isSeq(pair.value) || pair.value.items.length > 0) return undefined;
  pair.value = seq;
  return { doc };
}

/**
 * A workload item the full parse made its Step from without nodes (FlatDma): parseWorkload takes
 * the step, numbered where it lands. `range` as the item's YAMLMap would have it.
 */
class ReadStep {
  readonly range: [number, number, number];
  constructor(
    readonly step: Step,
    m0: number,
    m1: number,
  ) {
    this.range = [m0, m1, m1];
  }
}

/**
 * One workload item on its own: `text` holds exactly one block-sequence item ("  - dma: ...",
 * its continuation lines and trailing comments). Ranges are relative to `text`. Returns
 * undefined when the text is not exactly one clean item (the caller then parses the whole file).
 */
export function parseWorkloadItem(text: string): { step?: Step; diagnostics: Diagnostic[] } | undefined {
  if (/\r(?!\n)/.test(text)) return undefined; // lone CRs: the whole file's parse counts its lines
  const plain = fastPath.enabled ? fastItem(text, 0, text.length) : undefined;
  if (plain !== undefined) return workloadItem(text, plain);
  let doc;
  try {
    const parsed = parseYaml(text, YAML_OPTIONS);
    if (!("doc" in parsed)) return undefined;
    doc = parsed.doc;
  } catch {
    return undefined;
  }
  if (doc.errors.length > 0 || doc.warnings.length > 0) return undefined;
  const root = doc.contents as Node | null;
  if (root === null || !isSeq(root) || root.items.length !== 1) return undefined;
  return workloadItem(text, root.items[0] as Node);
}

function workloadItem(text: string, item: Node): { step?: Step; diagnostics: Diagnostic[] } | undefined {
  const r = new Reader(text, new LineIndex(text));
  let step: Step | undefined;
  try {
    step = parseStep(r, item, 0);
  } catch {
    return undefined;
  }
  return step ? { step, diagnostics: r.diagnostics } : { diagnostics: r.diagnostics };
}

function build(r: Reader, root: Node | null, file: string): Scenario | undefined {
  if (root === null || (isScalar(root) && root.value === null)) {
    r.error(null, "empty", l10n.t("the scenario is empty"), l10n.t("Start with a `host:` section; see the examples folder."));
    return undefined;
  }
  const top = r.fields(root, ["name", "description", "host", "vms", "workload"], "the scenario");
  if (!top) return undefined;
  const hostNode = r.required(top, "host", "the scenario", root);
  const host = hostNode === undefined ? undefined : parseHost(r, hostNode);
  const vms = parseVms(r, top.get("vms")?.value ?? null, host);
  const workload = parseWorkload(r, top.get("workload")?.value ?? null);
  if (host === undefined) return undefined;
  const s: Scenario = { file, host, vms, workload };
  const name = top.get("name");
  if (name) {
    const v = r.str(name.value, "name");
    if (v !== undefined) s.name = v;
  }
  const desc = top.get("description");
  if (desc) {
    const v = r.str(desc.value, "description");
    if (v !== undefined) s.description = v;
  }
  return s;
}

function parseHost(r: Reader, node: Node | null): HostSpec | undefined {
  const f = r.fields(node, ["memory", "backing", "memlock", "dma-entry-limit", "kernel", "seed", "iommu", "iommus", "pci", "acs-override", "kernel-params"], "host");
  if (!f) return undefined;
  const range = r.range(node);
  const memory = f.has("memory") ? r.size(f.get("memory")!.value, "host.memory") : 64n << 30n;
  let backing: bigint | undefined = 2n << 20n;
  if (f.has("backing")) {
    backing = r.size(f.get("backing")!.value, "host.backing");
    if (backing !== undefined && ![4096n, 2n << 20n, 1n << 30n].includes(backing)) {
      r.error(f.get("backing")!.value, "invalid-value", l10n.t("host.backing must be 4KiB, 2MiB or 1GiB"), l10n.t("These are the page sizes guest RAM can be backed with."));
      backing = undefined;
    }
  }
  let memlock: bigint | undefined;
  const ml = f.get("memlock")?.value ?? null;
  if (ml !== null && !(isScalar(ml) && String(ml.value) === "unlimited")) memlock = r.size(ml, "host.memlock");
  const dmaEntryLimit = f.has("dma-entry-limit") ? r.int(f.get("dma-entry-limit")!.value, "host.dma-entry-limit", 1, 2 ** 31 - 1) : 65535;
  let kernel = "6.8";
  if (f.has("kernel")) {
    const k = r.str(f.get("kernel")!.value, "host.kernel");
    if (k !== undefined && /^\d+\.\d+/.test(k)) kernel = k;
    else if (k !== undefined) r.error(f.get("kernel")!.value, "invalid-value", l10n.t("host.kernel {0} is not a kernel version", quoted(k)), l10n.t("Write it like \"6.8\" or \"5.10\" (quoted)."));
  }
  const seed = f.has("seed") ? r.int(f.get("seed")!.value, "host.seed", 0, 2 ** 31 - 1) : 1;
  const units = f.has("iommus") ? parseIommuUnits(r, f.get("iommus")!, f.get("iommu")) : undefined;
  const iommuNode = units !== undefined ? undefined : r.required(f, "iommu", "host", node);
  const iommu = units !== undefined ? units[0]?.iommu : iommuNode === undefined ? undefined : parseIommu(r, iommuNode);
  const kernelParams = f.has("kernel-params") ? parseKernelParams(r, f.get("kernel-params")!.value) : undefined;
  const pci = parsePci(r, f.get("pci")?.value ?? null, kernelParams?.noAri ?? false);
  const iommus = units === undefined ? undefined : resolveUnitScopes(r, units, pci);
  if (memory === undefined || backing === undefined || dmaEntryLimit === undefined || seed === undefined || iommu === undefined) return undefined;
  // A 16/64 KiB-page Arm kernel cannot back guest RAM with 4 KiB pages (its smallest page is PAGE_SIZE).
  const pageShift = iommu.smmu?.pageShift;
  if (pageShift !== undefined && backing < 1n << BigInt(pageShift)) r.error(f.get("backing")?.value ?? null, "invalid-value", l10n.t("host.backing {0} is smaller than the host kernel's page size (host.iommu.page-size)", `${Number(backing / 1024n)}KiB`), l10n.t("A kernel with {0} pages backs memory with pages of at least that size: use 2MiB or 1GiB hugepages, or leave host.backing out.", `${2 ** (pageShift - 10)} KiB`), range);
  if (memory < 2n << 30n) r.error(f.get("memory")?.value, "host-memory-too-small", l10n.t("host.memory must be at least 2GiB"), l10n.t("The simulated host keeps its first GiB for the kernel and IOMMU tables."), range);
  const acs = f.has("acs-override") ? parseAcsOverrideNode(r, f.get("acs-override")!.value) : undefined;
  return { memory, backing, ...(memlock !== undefined ? { memlock } : {}), dmaEntryLimit, kernel, seed, iommu, ...(iommus !== undefined ? { iommus } : {}), pci, ...(acs !== undefined ? { acsOverride: acs } : {}), ...(kernelParams !== undefined ? { kernelParams } : {}), range };
}

/**
 * `host.kernel-params: "pci=noari ..."`: the host kernel's command line. Read: `pci=` options
 * (comma-separated, as drivers/pci/pci.c pci_setup splits them) with `noari`. Every other
 * parameter is a warning: the simulation does not model it (iommu=pt is host.iommu.host-pass-through,
 * pcie_acs_override= is host.acs-override).
 */
function parseKernelParams(r: Reader, node: Node | null): KernelParamsSpec | undefined {
  const text = r.str(node, "host.kernel-params");
  if (text === undefined) return undefined;
  let noAri = false;
  let amdPgtable: "v1" | "v2" | undefined;
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (word.startsWith("amd_iommu=")) {
      // parse_amd_iommu_options: comma-separated; pgtbl_v1 / pgtbl_v2 choose the DMA domains' page table.
      for (const opt of word.slice(10).split(",")) {
        if (opt === "pgtbl_v1" || opt === "pgtbl_v2") amdPgtable = opt === "pgtbl_v2" ? "v2" : "v1";
        else r.report("warning", node, "kernel-param-ignored", l10n.t("amd_iommu={0} is not simulated; the simulation reads amd_iommu=pgtbl_v1 and pgtbl_v2", opt), l10n.t("Leave it out, or keep it as a note: it changes nothing here."));
      }
      continue;
    }
    if (word.startsWith("pci=")) {
      for (const opt of word.slice(4).split(",")) {
        if (opt === "noari") noAri = true;
        else r.report("warning", node, "kernel-param-ignored", l10n.t("pci={0} is not simulated; the simulation reads pci=noari", opt), l10n.t("Leave it out, or keep it as a note: it changes nothing here."));
      }
      continue;
    }
    const hint = word.startsWith("iommu=pt") ? l10n.t("iommu=pt is host.iommu.host-pass-through: true.") : word.startsWith("pcie_acs_override=") ? l10n.t("Write it as host.acs-override.") : l10n.t("Leave it out, or keep it as a note: it changes nothing here.");
    r.report("warning", node, "kernel-param-ignored", l10n.t("kernel parameter {0} is not simulated; the simulation reads pci=noari", word), hint);
  }
  return { text, noAri, ...(amdPgtable !== undefined ? { amdPgtable } : {}), range: r.range(node) };
}

/**
 * `host.iommu.iotlb: { sets, ways }` of any model: sets a power of two up to 65536, ways 1..16
 * (the translate core's IOTLB layout); `defaultSets` x 4 ways when absent.
 */
function parseIotlbGeometry(r: Reader, tlb: Node | null, defaultSets: number): { sets: number; ways: number } {
  let sets = defaultSets;
  let ways = 4;
  if (tlb !== null) {
    const t = r.fields(tlb, ["sets", "ways"], "host.iommu.iotlb");
    if (t?.has("sets")) {
      const v = r.int(t.get("sets")!.value, "iotlb.sets", 1, 65536);
      if (v !== undefined && (v & (v - 1)) !== 0) r.error(t.get("sets")!.value, "invalid-value", l10n.t("iotlb.sets {0} is not a power of two", v), l10n.t("Use 1, 2, 4, ... 65536."));
      else if (v !== undefined) sets = v;
    }
    if (t?.has("ways")) ways = r.int(t.get("ways")!.value, "iotlb.ways", 1, 16) ?? ways;
  }
  return { sets, ways };
}

function parseIommu(r: Reader, node: Node | null): IommuSpec | undefined {
  if (modelOf(r.deref(node)) === "smmuv3") return parseSmmuIommu(r, node);
  const keys = ["model", "address-width", "sagaw", "caching-mode", "fault-records", "nd", "iotlb", "superpages", "pass-through", "queued-invalidation", "device-iotlb", "page-selective-invalidation", "mamv", "host-pass-through", "scalable", "first-level", "second-level", "nested", "pasid-bits", "intremap", "eim", "posted-interrupts", "rmrr", "unity-maps", "ivhd", "ga", "ats", "pri", "prq-order", "prq-private-data", "ppr-interrupt", "paging-structure-cache", "slads", "smpwc"];
  const f = r.fields(node, keys, "host.iommu");
  if (!f) return undefined;
  const modelNode = r.required(f, "model", "host.iommu", node);
  if (modelNode === undefined) return undefined;
  const model = isScalar(modelNode) ? String(modelNode.value) : "";
  if (model === "amd-vi") return parseAmdIommu(r, node, f);
  if (r.enumOf(modelNode, "host.iommu.model", ["intel-vtd", "amd-vi", "smmuv3"] as const) === undefined) return undefined;
  if (f.has("unity-maps")) r.error(f.get("unity-maps")!.key, "invalid-value", l10n.t("unity-maps is an AMD-Vi option (IVRS IVMD ranges)"), l10n.t("Use model: amd-vi, or leave unity-maps out (VT-d's twin is the RMRR)."));
  if (f.has("ga")) r.error(f.get("ga")!.key, "invalid-value", l10n.t("ga is an AMD-Vi option (128-bit IRTEs, Control.GAEn)"), l10n.t("Use model: amd-vi; on VT-d the IRTE is always 128 bits and x2APIC is eim."));
  if (f.has("ivhd")) r.error(f.get("ivhd")!.key, "invalid-value", l10n.t("ivhd is an AMD-Vi option (the IVRS device entries)"), l10n.t("Use model: amd-vi; VT-d's DMAR table has no alias entries."));
  if (f.has("ppr-interrupt")) r.error(f.get("ppr-interrupt")!.key, "invalid-value", l10n.t("ppr-interrupt is an AMD-Vi option (the PPR log's interrupt thread)"), l10n.t("Use model: amd-vi; on VT-d list the PRI devices in pri and service the page request queue with page-response steps."));
  const b = (k: string, d: boolean) => (f.has(k) ? r.bool(f.get(k)!.value, `host.iommu.${k}`) ?? d : d);
  const awNode = f.get("address-width")?.value ?? null;
  let aw: 39 | 48 | 57 = 48;
  if (awNode !== null) {
    const v = r.int(awNode, "host.iommu.address-width", 0, 64);
    if (v !== undefined && v !== 39 && v !== 48 && v !== 57) r.error(awNode, "invalid-value", l10n.t("host.iommu.address-width {0} is not a VT-d width", v), l10n.t("VT-d second-level tables cover 39 (3 levels), 48 (4) or 57 (5) bits."));
    else if (v !== undefined) aw = v;
  }
  let sagaw = ([39, 48, 57] as const).filter((w) => w <= aw);
  const sagawNode = f.get("sagaw")?.value ?? null;
  if (sagawNode !== null) {
    if (!isSeq(sagawNode) || sagawNode.items.length === 0) r.error(sagawNode, "invalid-value", l10n.t("host.iommu.sagaw must be a non-empty list of widths"), l10n.t("For example [39, 48]."));
    else {
      const ws: (39 | 48 | 57)[] = [];
      for (const alias of sagawNode.items as Node[]) {
        const it = r.deref(alias) ?? alias;
        const v = r.int(it, "a SAGAW width", 0, 64);
        if (v === 39 || v === 48 || v === 57) {
          if (v > aw) r.error(it, "invalid-value", l10n.t("SAGAW width {0} is above the address width {1}", v, aw), l10n.t("Each supported width must be at most host.iommu.address-width."));
          else ws.push(v);
        } else if (v !== undefined) r.error(it, "invalid-value", l10n.t("SAGAW width {0} is not 39, 48 or 57", v), l10n.t("VT-d defines 39-, 48- and 57-bit guest address widths."));
      }
      if (ws.length > 0) sagaw = ws;
    }
  }
  const { sets, ways } = parseIotlbGeometry(r, f.get("iotlb")?.value ?? null, 256);
  const superpages = { "2M": true, "1G": true };
  const sp = f.get("superpages")?.value ?? null;
  if (sp !== null) {
    superpages["2M"] = false;
    superpages["1G"] = false;
    if (!isSeq(sp)) r.error(sp, "invalid-value", l10n.t("host.iommu.superpages must be a list"), l10n.t("For example [2MiB, 1GiB] or []."));
    else
      for (const alias of sp.items as Node[]) {
        const it = r.deref(alias) ?? alias;
        const v = r.size(it, "a superpage size");
        if (v === 2n << 20n) superpages["2M"] = true;
        else if (v === 1n << 30n) superpages["1G"] = true;
        else if (v !== undefined) r.error(it, "invalid-value", l10n.t("VT-d second-level superpages are 2MiB or 1GiB"), l10n.t("List 2MiB and/or 1GiB."));
      }
  }
  const faultRecords = f.has("fault-records") ? r.int(f.get("fault-records")!.value, "host.iommu.fault-records", 1, 256) ?? 8 : 8;
  const nd = f.has("nd") ? r.int(f.get("nd")!.value, "host.iommu.nd", 0, 6) ?? 6 : 6;
  const mamv = f.has("mamv") ? r.int(f.get("mamv")!.value, "host.iommu.mamv", 0, 63) ?? 18 : 18;
  const ats = f.has("ats") ? parseVtdAts(r, f, b("device-iotlb", false)) : undefined;
  return {
    model: "intel-vtd",
    addressWidth: aw,
    sagaw,
    cachingMode: b("caching-mode", false),
    faultRecords,
    nd,
    iotlbSets: sets,
    iotlbWays: ways,
    superpages,
    passThrough: b("pass-through", true),
    queuedInvalidation: b("queued-invalidation", true),
    deviceTlb: b("device-iotlb", false),
    pageSelectiveInvalidation: b("page-selective-invalidation", true),
    mamv,
    hostPassThrough: b("host-pass-through", false),
    ...parseScalable(r, f),
    ...(f.has("intremap") ? { intremap: b("intremap", false) } : {}),
    ...(f.has("eim") ? { eim: b("eim", false) } : {}),
    ...(f.has("posted-interrupts") ? { postedInterrupts: b("posted-interrupts", false) } : {}),
    ...(f.has("rmrr") ? { rmrr: parseRmrrs(r, f.get("rmrr")!.value) } : {}),
    ...(ats !== undefined ? { ats } : {}),
    ...(f.has("pri") ? { pri: parseVtdPri(r, f, ats ?? []) } : {}),
    // Linux's PRQ_ORDER, the page request queue's PQA.PQS (3 bits: 2^(PQS + 7) descriptors; driver.ts PRQ_ORDER).
    ...(f.has("prq-order") ? { prqOrder: r.int(f.get("prq-order")!.value, "prq-order", 0, 7) ?? 4 } : {}),
    ...(f.has("slads") ? { slads: b("slads", false) } : {}),
    ...(f.has("smpwc") ? { smpwc: b("smpwc", true) } : {}),
    ...(f.has("paging-structure-cache") ? { pagingStructureCache: parsePagingStructureCache(r, f.get("paging-structure-cache")!.value) } : {}),
    // VT-d 3.x page request private data (PDP, qw2/qw3 of the descriptors); removed in VT-d 4.0.
    ...(f.has("prq-private-data") ? { prqPrivateData: b("prq-private-data", false) } : {}),
    range: r.range(node),
  };
}

/**
 * `host.iommu.paging-structure-cache: { entries, replacement }` (VT-d 6.2.4; sim/vtd/psc.ts): 1..1024
 * slots (default 16), replacement fifo (default) or lru. `entries: 0` is the same as leaving it out.
 */
function parsePagingStructureCache(r: Reader, node: Node | null): { entries: number; replacement: "fifo" | "lru" } {
  const out: { entries: number; replacement: "fifo" | "lru" } = { entries: 16, replacement: "fifo" };
  const t = r.fields(node, ["entries", "replacement"], "host.iommu.paging-structure-cache");
  if (t?.has("entries")) out.entries = r.int(t.get("entries")!.value, "paging-structure-cache.entries", 0, 1024) ?? out.entries;
  if (t?.has("replacement")) out.replacement = r.enumOf(t.get("replacement")!.value, "paging-structure-cache.replacement", ["fifo", "lru"] as const) ?? out.replacement;
  return out;
}

/** A unit of `host.iommus` while its scope is read: the spec, and the nodes of its scope entries. */
interface ParsedUnit extends IommuUnitSpec {
  scope: { key: string; node: Node }[];
  includeAllNode?: Node;
}

/** The scope keys of a `host.iommus` unit (and its register base); the other keys are `host.iommu`'s for its model. */
const UNIT_SCOPE_KEYS = ["devices", "include-all", "register-base"];

/**
 * AMD-Vi register blocks of a one-socket EPYC 7302P (Rome, four IOMMUs, one per root complex) as
 * /proc/iomem lists them: "b4100000-b417ffff : amd_iommu", "b5200000-b527ffff", "f4100000-f417ffff",
 * "f5100000-f517ffff" (the amd_iommu regions init.c requests at each IVHD's IOMMU Base Address,
 * 512 KiB each; a Supermicro H12SSW-NT's Debian installation report, linux-kernel, 2021-06-18). A
 * Lenovo Rome server's IVRS has the IVHD of 40:00.2 at the first of them ("DeviceId : 4002 ...
 * Base Address : 00000000B4100000", iommu list, 2019-11-04). The dump does not say which root each
 * of the others is: they are taken in address order.
 */
const EPYC_ROME_IOMMU_BASES = [0xb4100000n, 0xb5200000n, 0xf4100000n, 0xf5100000n];
/**
 * SMMUv3 nodes of a HiSilicon Hi1620 (Kunpeng 920) chip in its IORT, in table order: Base Address
 * 0x148000000 (PCIe host bridges 0 and 1), 0x100000000 (host bridge 4), 0x140000000 (host bridge 5);
 * the second chip's SMMUs are the same plus 0x400000000000 (0x400148000000, ...). edk2-platforms
 * Silicon/Hisilicon/Hi1620/Hi1620AcpiTables/Hi1620Iort.asl.
 */
const HI1620_SMMU_BASES = [0x148000000n, 0x100000000n, 0x140000000n];
const HI1620_CHIP_STRIDE = 0x4000_0000_0000n;

/**
 * Where a unit's register block is when the scenario does not say (`register-base`), by position
 * among `count` units. One unit: the model's one-unit default (QEMU's, as host.iommu). Several, as
 * firmware lays them out: VT-d as client firmware lays out its DRHDs (dmar0 at 0xfed90000, dmar1 at
 * 0xfed91000: Linux's "DMAR: dmar1: reg_base_addr fed91000" on laptops with an integrated-GPU DRHD);
 * AMD-Vi the four IOMMUs of an EPYC Rome socket (EPYC_ROME_IOMMU_BASES), units past the fourth the
 * same four again 2 MiB higher per round (no dump shows more: a continuation, not a layout);
 * SMMUv3 the three SMMUs of each Hi1620 chip in its IORT (HI1620_SMMU_BASES), the next three on the
 * next chip. Server firmware differs from board to board: give `register-base` from the
 * DRHD/IVHD/IORT or `dmesg` (`/proc/iomem`) where it matters.
 */
export function defaultRegisterBase(model: IommuSpec["model"], index: number, count = 2): bigint {
  const i = BigInt(index);
  if (model === "intel-vtd") return 0xfed90000n + i * 0x1000n;
  if (count <= 1) return model === "amd-vi" ? 0xfeb80000n : 0x09050000n;
  if (model === "amd-vi") return EPYC_ROME_IOMMU_BASES[index % 4]! + BigInt(Math.floor(index / 4)) * 0x200000n;
  return HI1620_SMMU_BASES[index % 3]! + BigInt(Math.floor(index / 3)) * HI1620_CHIP_STRIDE;
}

/**
 * `host.iommus`: a list of units of one model, each a `host.iommu` mapping plus its scope
 * (`devices`, and for VT-d `include-all`). Units are named as Linux names them: VT-d "dmar%d" by
 * DRHD order (alloc_iommu() in drivers/iommu/intel/dmar.c: sprintf(iommu->name, "dmar%d",
 * iommu->seq_id), seq_id allocated as dmar_parse_one_drhd() walks the DMAR table); AMD-Vi "ivhd%d"
 * (drivers/iommu/amd/init.c: iommu->index = amd_iommus_present++, iommu_device_sysfs_add(...,
 * "ivhd%d", iommu->index)); SMMUv3 the platform device IORT creates, "arm-smmu-v3.%d.auto"
 * (drivers/acpi/arm64/iort.c iort_add_platform_device: platform_device_alloc(ops->name,
 * PLATFORM_DEVID_AUTO)) unless `device-name` says otherwise.
 */
function parseIommuUnits(r: Reader, entry: { key: Node; value: Node | null }, single: { key: Node } | undefined): ParsedUnit[] | undefined {
  if (single !== undefined) r.error(single.key, "invalid-value", l10n.t("host.iommu and host.iommus are both given"), l10n.t("Write one unit as host.iommu, or every unit (this one too) as an item of host.iommus."));
  const node = entry.value;
  if (!isSeq(node) || node.items.length === 0) {
    r.error(isSeq(node) ? node : entry.key, "expected-list", l10n.t("host.iommus must be a non-empty list of IOMMU units"), l10n.t("- { model: intel-vtd, devices: [\"00:02.0\"] } per unit, in the firmware's (DMAR/IVRS/IORT) order."));
    return undefined;
  }
  const out: ParsedUnit[] = [];
  let model: string | undefined;
  for (const alias of node.items as Node[]) {
    const it = r.deref(alias) ?? alias;
    if (!isMap(it)) {
      r.error(it, "expected-mapping", l10n.t("a unit of host.iommus must be a mapping"), l10n.t("Write it as { model: intel-vtd, devices: [...] }."));
      continue;
    }
    // The unit's own options go to host.iommu's parser; the scope keys are read here.
    const own = new YAMLMap<Node, Node | null>();
    own.range = it.range;
    const scope: ParsedUnit["scope"] = [];
    let includeAll = false;
    let includeAllNode: Node | undefined;
    let registerBase: bigint | undefined;
    let registerBaseNode: Node | undefined;
    for (const pair of it.items as Pair<Node, Node | null>[]) {
      const k = isScalar(pair.key) ? String(pair.key.value) : "";
      if (!UNIT_SCOPE_KEYS.includes(k)) {
        own.items.push(pair);
        continue;
      }
      const v = r.valueOf(pair);
      if (k === "register-base") {
        registerBase = r.addr(v, "register-base");
        registerBaseNode = v;
        // DRHD Register Base Address and IVHD IOMMU Base Address are 4 KiB aligned (VT-d 8.3, AMD IOMMU 5.2.2.1).
        if (registerBase !== undefined && (registerBase & 0xfffn) !== 0n) {
          r.error(v, "invalid-value", l10n.t("register-base 0x{0} is not 4 KiB aligned", registerBase.toString(16)), l10n.t("A unit's register block starts on a page: copy the DRHD base (dmesg \"DMAR: DRHD base: 0x...\") or the IVHD/IORT base address."));
          registerBase = undefined;
        }
      } else if (k === "include-all") {
        includeAll = r.bool(v, "include-all") ?? false;
        includeAllNode = pair.key;
      } else if (!isSeq(v) || v.items.length === 0) {
        r.error(v, "expected-list", l10n.t("a unit's devices must be a non-empty list"), l10n.t("The unit's scope: devices: [\"00:02.0\"]; a bridge or root port covers every device below it."));
      } else {
        for (const d of v.items as Node[]) {
          const dn = r.deref(d) ?? d;
          const key = r.bdf(dn, "a unit's device")?.key;
          if (key !== undefined) scope.push({ key, node: dn });
        }
      }
    }
    const iommu = parseIommu(r, own);
    if (iommu === undefined) continue;
    if (model !== undefined && iommu.model !== model) {
      r.error(it, "iommu-model-unsupported", l10n.t("host.iommus mixes {0} and {1} units", model, iommu.model), l10n.t("A host's IOMMU units are of one model (one ACPI table: DMAR, IVRS or IORT); give every unit the same model."));
      continue;
    }
    model = iommu.model;
    const index = out.length;
    const name = iommu.model === "intel-vtd" ? `dmar${index}` : iommu.model === "amd-vi" ? `ivhd${index}` : iommu.smmu !== undefined && !it.items.some((p) => isScalar(p.key) && p.key.value === "device-name") ? `arm-smmu-v3.${index}.auto` : (iommu.smmu?.name ?? `arm-smmu-v3.${index}.auto`);
    const named = iommu.smmu !== undefined && iommu.smmu.name !== name ? { ...iommu, smmu: { ...iommu.smmu, name } } : iommu;
    const base = registerBase ?? defaultRegisterBase(iommu.model, index, node.items.length);
    const clash = out.find((u) => u.iommu.registerBase === base);
    if (clash !== undefined) r.error(registerBaseNode ?? it, "invalid-value", l10n.t("{0} and {1} both have their registers at 0x{2}", clash.name, name, base.toString(16)), l10n.t("Each IOMMU unit has a register block of its own: give each unit its own register-base."));
    const spec = { ...named, registerBase: base };
    if (includeAll && iommu.model !== "intel-vtd") r.error(includeAllNode, "invalid-value", l10n.t("include-all is VT-d's INCLUDE_PCI_ALL flag"), l10n.t("List the unit's devices (IVHD device entries, the IORT root complex's devices) instead."));
    out.push({ name, iommu: spec, devices: scope.map((x) => x.key), includeAll: includeAll && iommu.model === "intel-vtd", range: r.range(it), scope, ...(includeAllNode !== undefined ? { includeAllNode } : {}) });
  }
  return out.length > 0 ? out : undefined;
}

/**
 * Checks the units' scopes against the host's devices: names exist, INCLUDE_PCI_ALL is on one
 * unit and that unit is the last DRHD (VT-d spec 8.3: "it must be enumerated by BIOS after all
 * other DRHD structures for the same Segment"; Linux's dmar_register_drhd_unit() puts it at the
 * tail of dmar_drhd_units so dmar_find_matched_drhd_unit() tries it last), a device is in at most
 * one scope, and every device is in some unit's scope.
 */
function resolveUnitScopes(r: Reader, units: ParsedUnit[], pci: PciDeviceSpec[]): IommuUnitSpec[] {
  const byKey = new Map(pci.map((d) => [d.key, d]));
  const owner = new Map<string, ParsedUnit>();
  const includeAll = units.filter((u) => u.includeAll);
  for (const u of includeAll.slice(1)) r.error(u.includeAllNode, "invalid-value", l10n.t("{0} and {1} both have include-all", includeAll[0]!.name, u.name), l10n.t("One DRHD per PCI segment has INCLUDE_PCI_ALL; list the devices of the others."));
  const last = units[units.length - 1];
  if (includeAll[0] !== undefined && includeAll[0] !== last) r.error(includeAll[0].includeAllNode, "invalid-value", l10n.t("the include-all unit {0} is not the last unit", includeAll[0].name), l10n.t("The DRHD with INCLUDE_PCI_ALL comes after every other DRHD of its segment (VT-d spec 8.3): move it to the end of host.iommus."));
  for (const u of units) {
    for (const s of u.scope) {
      if (!byKey.has(s.key)) r.error(s.node, "unknown-device", l10n.t("{0} in the scope of {1} is not in host.pci", s.key, u.name), l10n.t("Add the device (or bridge) to host.pci, or remove it from the unit's devices."));
      const prev = owner.get(s.key);
      if (prev !== undefined && prev !== u) r.error(s.node, "invalid-value", l10n.t("{0} is in the scope of both {1} and {2}", s.key, prev.name, u.name), l10n.t("A device belongs to one IOMMU unit: remove it from one of the two scopes."));
      else owner.set(s.key, u);
    }
  }
  const specs = units.map(({ name, iommu, devices, includeAll: all, range }) => ({ name, iommu, devices, includeAll: all, range }));
  if (units.length > 1) checkPerUnitFeatures(r, specs, pci);
  for (const d of pci) {
    if (unitIndexOfDevice(specs, pci, d.key) < 0)
      r.error(null, "unknown-device", l10n.t("{0} is in no IOMMU unit's scope", d.key), l10n.t("Add {0} (or a bridge above it) to a unit's devices, or give the last VT-d unit include-all: true.", d.key), d.range);
  }
  return specs;
}

/**
 * VT-d interrupt remapping, RMRRs and ATS on a host of several DRHDs (docs/multi-unit.md):
 *  - interrupt remapping is all units or none: intel_prepare_irq_remapping() (irq_remapping.c)
 *    gives it up unless every DRHD has ECAP.IR ("First make sure all IOMMUs support IRQ
 *    remapping"), and drops to xAPIC mode unless every DRHD has ECAP.EIM; set_irq_posting_cap()
 *    posts interrupts only when every unit has CAP.PI. So the units agree on intremap, eim and
 *    posted-interrupts;
 *  - an RMRR's devices and an ATS device are in the scope of the unit that lists them: the DRHD
 *    whose scope holds the device maps its RMRR and flushes its Device-TLB
 *    (dmar_find_matched_drhd_unit(), scenario/iommuUnits.ts unitIndexOfDevice).
 */
function checkPerUnitFeatures(r: Reader, units: IommuUnitSpec[], pci: PciDeviceSpec[]): void {
  if (units[0]!.iommu.model !== "intel-vtd") return;
  const first = units[0]!;
  for (const u of units.slice(1)) {
    for (const [key, on] of [
      ["intremap", (x: IommuSpec) => x.intremap === true],
      ["eim", (x: IommuSpec) => x.eim === true],
      ["posted-interrupts", (x: IommuSpec) => x.postedInterrupts === true],
    ] as const) {
      if (on(u.iommu) !== on(first.iommu))
        r.error(null, "intremap-config", l10n.t("{0} is on in {1} and off in {2}", key, on(u.iommu) ? u.name : first.name, on(u.iommu) ? first.name : u.name), l10n.t("Linux remaps interrupts (and uses x2APIC mode, and posts them) only when every DRHD supports it (intel_prepare_irq_remapping, set_irq_posting_cap): give every unit the same {0}.", key), u.range);
    }
  }
  units.forEach((u, i) => {
    const owner = (key: string) => unitIndexOfDevice(units, pci, key);
    for (const rm of u.iommu.rmrr ?? [])
      for (const d of rm.devices) {
        const o = owner(d);
        if (o >= 0 && o !== i) r.error(null, "invalid-value", l10n.t("RMRR device {0} is in the scope of {1}, not {2}", d, units[o]!.name, u.name), l10n.t("The DRHD whose scope holds the device maps its RMRR: list this RMRR under {0}.", units[o]!.name), rm.range);
      }
    for (const a of u.iommu.ats ?? []) {
      const o = owner(a.device);
      if (o >= 0 && o !== i) r.error(null, "invalid-value", l10n.t("ATS device {0} is in the scope of {1}, not {2}", a.device, units[o]!.name, u.name), l10n.t("The DRHD whose scope holds the device enables its ATS and flushes its Device-TLB: list it under {0}'s ats.", units[o]!.name), a.range);
    }
  });
}

/** The `model` of a host.iommu mapping, without diagnostics (the parser of that model reports them). */
function modelOf(node: Node | null): string | undefined {
  if (!isMap(node)) return undefined;
  for (const pair of node.items as Pair<Node, Node | null>[]) if (isScalar(pair.key) && pair.key.value === "model" && isScalar(pair.value)) return String(pair.value.value);
  return undefined;
}

/** The keys an smmuv3 host.iommu takes (docs/smmuv3.md). */
const SMMU_KEYS = ["model", "oas", "stream-id-bits", "substream-id-bits", "stages", "stage", "two-level-stream-table", "event-queue", "iotlb", "device-name", "iommu-map", "host-pass-through", "page-size", "granules", "stall-model", "ats", "ats-invalidation", "sva-invalidation", "pri", "pri-queue", "pasid"];

/** Translation granules by size (SMMU_IDR5.GRAN4K/16K/64K; CONFIG_ARM64_{4K,16K,64K}_PAGES), as shifts. */
const SMMU_GRANULES: ReadonlyMap<bigint, number> = new Map([
  [4096n, 12],
  [16384n, 14],
  [65536n, 16],
]);

/**
 * `host.iommu` with `model: smmuv3`: oas (SMMU_IDR5.OAS: 32, 36, 40, 42, 44 or 48), stream-id-bits
 * (SIDSIZE 1..24), substream-id-bits (SSIDSIZE 0..20), stages ([1, 2], what the SMMU implements),
 * stage (the driver's domains: 1 or 2), two-level-stream-table, event-queue (entries, a power of
 * two 2..32768), iotlb { sets, ways }, device-name, iommu-map { rid-base, sid-base } and
 * host-pass-through. Returns a full IommuSpec (the VT-d fields at their defaults) with `smmu` set.
 */
function parseSmmuIommu(r: Reader, node: Node | null): IommuSpec | undefined {
  const f = r.fields(node, SMMU_KEYS, "host.iommu (smmuv3)");
  if (!f) return undefined;
  const int = (k: string, min: number, max: number, d: number) => (f.has(k) ? (r.int(f.get(k)!.value, `host.iommu.${k}`, min, max) ?? d) : d);
  let oas = 48;
  const oasNode = f.get("oas")?.value ?? null;
  if (oasNode !== null) {
    const v = r.int(oasNode, "host.iommu.oas", 0, 64);
    // SMMU_IDR5.OAS encodings (SMMUv3 spec 6.3.6); 52 needs the 64 KiB granule, not simulated.
    if (v !== undefined && ![32, 36, 40, 42, 44, 48].includes(v)) r.error(oasNode, "invalid-value", l10n.t("host.iommu.oas {0} is not an SMMUv3 output address size", v), l10n.t("SMMU_IDR5.OAS is 32, 36, 40, 42, 44 or 48 bits (52 needs the 64 KiB granule)."));
    else if (v !== undefined) oas = v;
  }
  const sidBits = int("stream-id-bits", 1, 24, 16);
  const ssidBits = int("substream-id-bits", 0, 20, 0);
  let stage1 = true;
  let stage2 = true;
  const stagesNode = r.deref(f.get("stages")?.value ?? null);
  if (stagesNode !== null) {
    if (!isSeq(stagesNode) || stagesNode.items.length === 0) r.error(stagesNode, "invalid-value", l10n.t("host.iommu.stages must be a non-empty list of 1 and/or 2"), l10n.t("SMMU_IDR0.S1P and S2P: for example [1, 2] or [2]."));
    else {
      stage1 = false;
      stage2 = false;
      for (const alias of stagesNode.items as Node[]) {
        const it = r.deref(alias) ?? alias;
        const v = r.int(it, "a translation stage", 1, 2);
        if (v === 1) stage1 = true;
        else if (v === 2) stage2 = true;
      }
    }
  }
  let stage: 1 | 2 = stage1 ? 1 : 2;
  const stageNode = f.get("stage")?.value ?? null;
  if (stageNode !== null) {
    const v = r.int(stageNode, "host.iommu.stage", 1, 2);
    if (v !== undefined && !(v === 1 ? stage1 : stage2)) r.error(stageNode, "invalid-value", l10n.t("host.iommu.stage {0} is not one of the SMMU's stages", v), l10n.t("Linux's domains can only use a stage the SMMU implements (host.iommu.stages)."));
    else if (v === 1 || v === 2) stage = v;
  }
  let evtqShift = 7;
  const eqNode = f.get("event-queue")?.value ?? null;
  if (eqNode !== null) {
    const v = r.int(eqNode, "host.iommu.event-queue", 2, 32768);
    if (v !== undefined && (v & (v - 1)) !== 0) r.error(eqNode, "invalid-value", l10n.t("host.iommu.event-queue {0} is not a power of two", v), l10n.t("The event queue holds 2^LOG2SIZE records: 2, 4, ... 32768."));
    else if (v !== undefined) evtqShift = Math.log2(v);
  }
  const { sets, ways } = parseIotlbGeometry(r, f.get("iotlb")?.value ?? null, 64);
  let name = "arm-smmu-v3.0.auto";
  const nameNode = f.get("device-name")?.value ?? null;
  if (nameNode !== null) {
    const v = isScalar(nameNode) ? String(nameNode.value) : "";
    if (!/^[\w.:-]{1,64}$/.test(v)) r.error(nameNode, "invalid-value", l10n.t("host.iommu.device-name must be a platform device name"), l10n.t("For example arm-smmu-v3.0.auto (ACPI) or 9050000.smmuv3 (device tree)."));
    else name = v;
  }
  let ridBase = 0;
  let sidBase = 0;
  const mapNode = f.get("iommu-map")?.value ?? null;
  if (mapNode !== null) {
    const m = r.fields(mapNode, ["rid-base", "sid-base"], "host.iommu.iommu-map");
    if (m?.has("rid-base")) ridBase = r.int(m.get("rid-base")!.value, "iommu-map.rid-base", 0, 0xffff) ?? 0;
    if (m?.has("sid-base")) sidBase = r.int(m.get("sid-base")!.value, "iommu-map.sid-base", 0, 2 ** 24 - 1) ?? 0;
  }
  const hostPt = f.has("host-pass-through") ? (r.bool(f.get("host-pass-through")!.value, "host.iommu.host-pass-through") ?? false) : false;
  // granules: SMMU_IDR5.GRAN4K/GRAN16K/GRAN64K; page-size: the host kernel's PAGE_SIZE, which
  // io-pgtable-arm takes as the granule of every domain (arm_lpae_restrict_pgsizes).
  const granuleOf = (n: Node | null, what: string): number | undefined => {
    const v = r.size(n, what);
    if (v === undefined) return undefined;
    const g = SMMU_GRANULES.get(v);
    if (g === undefined) r.error(n, "invalid-value", l10n.t("{0} must be 4KiB, 16KiB or 64KiB", what), l10n.t("The VMSAv8-64 translation granules (SMMU_IDR5.GRAN4K, GRAN16K, GRAN64K)."));
    return g;
  };
  let granules: number[] | undefined;
  const granNode = r.deref(f.get("granules")?.value ?? null);
  if (granNode !== null) {
    if (!isSeq(granNode) || granNode.items.length === 0) r.error(granNode, "invalid-value", l10n.t("host.iommu.granules must be a non-empty list of 4KiB, 16KiB and/or 64KiB"), l10n.t("SMMU_IDR5.GRAN4K, GRAN16K, GRAN64K: for example [4KiB, 64KiB]."));
    else {
      granules = [];
      for (const alias of granNode.items as Node[]) {
        const g = granuleOf(r.deref(alias) ?? alias, "a granule");
        if (g !== undefined && !granules.includes(g)) granules.push(g);
      }
    }
  }
  let pageShift: number | undefined;
  const pageNode = f.get("page-size")?.value ?? null;
  if (pageNode !== null) pageShift = granuleOf(pageNode, "host.iommu.page-size");
  // SMMU_IDR0.STALL_MODEL: stall (0b00), none (0b01, terminate only), force (0b10). docs/smmuv3-stall.md.
  const stallNode = f.get("stall-model")?.value ?? null;
  const stallModel = stallNode === null ? undefined : r.enumOf(stallNode, "host.iommu.stall-model", ["stall", "none", "force"] as const);
  // ats: PCI devices whose ATS Linux enables (docs/smmuv3-stall.md); ats-invalidation: false drops CMD_ATC_INV.
  const ats = f.has("ats") ? parseAts(r, f.get("ats")!.value, ["device", "responds", "invalidate"]) : undefined;
  for (const a of ats ?? []) if (!a.responds) r.error(null, "invalid-value", l10n.t("responds: false is an AMD-Vi option (an ATS invalidation that never completes)"), l10n.t("For SMMUv3 list the device alone; ats-invalidation: false models a driver that never sends CMD_ATC_INV."), a.range);
  for (const a of ats ?? []) if (a.invalidate === false) r.error(null, "invalid-value", l10n.t("invalidate: false per ATS device is an AMD-Vi option"), l10n.t("For SMMUv3 list the device alone; ats-invalidation: false models a driver that never sends CMD_ATC_INV."), a.range);
  // pri: ATS devices whose PCIe PRI capability is enabled (Page Requests into the SMMU's PRI queue).
  const pri = f.has("pri") ? parseAts(r, f.get("pri")!.value).map((a) => a.device) : undefined;
  for (const d of pri ?? []) if (!(ats ?? []).some((a) => a.device === d)) r.error(f.get("pri")!.value, "invalid-value", l10n.t("{0} has PRI but not ATS", d), l10n.t("A Page Request follows a failed ATS translation: list the device in host.iommu.ats too."));
  // pri-queue: the PRI queue's entries (SMMU_IDR1.PRIQS, a power of two as event-queue); needs pri.
  let priqShift: number | undefined;
  const pqNode = f.get("pri-queue")?.value ?? null;
  if (pqNode !== null) {
    const v = r.int(pqNode, "host.iommu.pri-queue", 2, 32768);
    if (v !== undefined && (v & (v - 1)) !== 0) r.error(pqNode, "invalid-value", l10n.t("host.iommu.pri-queue {0} is not a power of two", v), l10n.t("The PRI queue holds 2^LOG2SIZE entries: 2, 4, ... 32768."));
    else if (v !== undefined) priqShift = Math.log2(v);
    if (pri === undefined) r.error(f.get("pri-queue")!.key, "invalid-value", l10n.t("pri-queue needs pri"), l10n.t("The SMMU has a PRI queue only with PRI (SMMU_IDR0.PRI): list the PRI devices in host.iommu.pri."));
  }
  // pasid: PCI devices with a PASID capability (arm_smmu_enable_pasid); needs SubstreamIDs (SSIDSIZE > 0). docs/smmuv3-pasid.md.
  const pasid = f.has("pasid") ? parseAts(r, f.get("pasid")!.value).map((a) => a.device) : undefined;
  if (pasid !== undefined && pasid.length > 0 && ssidBits === 0) r.error(f.get("pasid")!.value, "invalid-value", l10n.t("PASID devices need SubstreamIDs, but host.iommu.substream-id-bits is 0"), l10n.t("Set substream-id-bits (SMMU_IDR1.SSIDSIZE, 1..20): Linux gives a master min(its PASID width, SSIDSIZE) bits."));
  const atsInvalidation = f.has("ats-invalidation") ? r.bool(f.get("ats-invalidation")!.value, "host.iommu.ats-invalidation") : undefined;
  // sva-invalidation: false - the SVA mmu notifier never reaches the SMMU (a what-if knob, docs/smmuv3-pasid.md).
  const svaInvalidation = f.has("sva-invalidation") ? r.bool(f.get("sva-invalidation")!.value, "host.iommu.sva-invalidation") : undefined;
  return smmuv3IommuSpec(
    { name, sidBits, ssidBits, oas, stage1, stage2, stage, twoLevel: f.has("two-level-stream-table") ? (r.bool(f.get("two-level-stream-table")!.value, "host.iommu.two-level-stream-table") ?? true) : true, evtqShift, ridBase, sidBase, ...(granules !== undefined && granules.length > 0 ? { granules } : {}), ...(pageShift !== undefined ? { pageShift } : {}), ...(stallModel !== undefined ? { stallModel } : {}), ...(ats !== undefined ? { ats } : {}), ...(atsInvalidation !== undefined ? { atsInvalidation } : {}), ...(svaInvalidation !== undefined ? { svaInvalidation } : {}), ...(pri !== undefined ? { pri } : {}), ...(priqShift !== undefined ? { priqShift } : {}), ...(pasid !== undefined ? { pasid } : {}) },
    { iotlbSets: sets, iotlbWays: ways, hostPassThrough: hostPt, range: r.range(node) },
  );
}

/**
 * The scalable-mode options of host.iommu (docs/scalable-mode.md): `scalable` (ECAP.SMTS, and Linux
 * runs the unit in scalable mode), `first-level` / `second-level` / `nested` (ECAP.FLTS / SLTS /
 * NEST) and `pasid-bits` (ECAP.PSS + 1). A feature of scalable mode on a unit without it is an error.
 */
function parseScalable(r: Reader, f: Fields): Partial<IommuSpec> {
  const out: Partial<IommuSpec> = {};
  const scalable = f.has("scalable") ? r.bool(f.get("scalable")!.value, "host.iommu.scalable") : undefined;
  const smOnly = ["first-level", "second-level", "nested", "pasid-bits", "slads", "smpwc"].filter((k) => f.has(k));
  if (scalable !== true) {
    for (const k of smOnly) r.error(f.get(k)!.key, "scalable-mode-required", l10n.t("host.iommu.{0} is a scalable-mode capability, but this unit has no scalable mode (ECAP.SMTS = 0)", k), l10n.t("Add scalable: true to host.iommu (a unit with ECAP.SMTS), or remove {0}.", k));
    return out;
  }
  out.scalable = true;
  const flag = (k: string, key: "firstLevel" | "secondLevel" | "nested") => {
    if (!f.has(k)) return;
    const v = r.bool(f.get(k)!.value, `host.iommu.${k}`);
    if (v !== undefined) out[key] = v;
  };
  flag("first-level", "firstLevel");
  flag("second-level", "secondLevel");
  flag("nested", "nested");
  if (f.has("pasid-bits")) {
    const v = r.int(f.get("pasid-bits")!.value, "host.iommu.pasid-bits", 0, 20);
    if (v !== undefined) out.pasidBits = v;
  }
  if (out.firstLevel === false && out.secondLevel === false) r.error(f.get("second-level")!.key, "invalid-value", l10n.t("a scalable-mode unit needs first-level or second-level translation"), l10n.t("Linux's intel_iommu cannot allocate a paging domain on a unit with neither ECAP.FLTS nor ECAP.SLTS; set first-level: true or second-level: true."));
  if (out.nested === true && (out.firstLevel === false || out.secondLevel === false)) r.error(f.get("nested")!.key, "invalid-value", l10n.t("nested translation needs both first-level and second-level translation"), l10n.t("ECAP.NEST walks first-level tables through second-level ones: keep first-level and second-level true, or set nested: false."));
  if (f.has("queued-invalidation") && r.bool(f.get("queued-invalidation")!.value, "host.iommu.queued-invalidation") === false) r.error(f.get("queued-invalidation")!.key, "invalid-value", l10n.t("scalable mode needs queued invalidation"), l10n.t("The PASID-cache and PASID-based IOTLB invalidations exist only as queued-invalidation descriptors; Linux turns scalable mode off on a unit without ECAP.QI. Remove queued-invalidation: false."));
  return out;
}

/**
 * A vIOMMU's `intremap` / `eim` and the VM's `irqchip`, with QEMU's refusals (hw/i386/intel_iommu.c
 * vtd_decide_config: "Intel Interrupt Remapping cannot work with kernel-irqchip=on, please use
 * 'split|off'." and "eim=on cannot be selected without intremap=on"). QEMU's default for a KVM q35
 * machine is kernel-irqchip=on; libvirt's <ioapic driver='qemu'/> is kernel-irqchip=split.
 */
function viommuIntremap(r: Reader, v: Fields, vmFields: Fields, vm: VmSpec): void {
  const ir = v.has("intremap") ? r.bool(v.get("intremap")!.value, "viommu.intremap") ?? false : false;
  const eim = v.has("eim") ? r.bool(v.get("eim")!.value, "viommu.eim") ?? false : false;
  const chipNode = vmFields.get("irqchip")?.value ?? null;
  const irqchip = chipNode === null ? "on" : r.enumOf(chipNode, "irqchip", ["on", "split", "off"] as const) ?? "split";
  if (ir && irqchip === "on")
    r.error(v.get("intremap")!.value, "intremap-config", "Intel Interrupt Remapping cannot work with kernel-irqchip=on, please use 'split|off'.", l10n.t("QEMU refuses this vIOMMU: add irqchip: split to the VM (-machine q35,kernel-irqchip=split; libvirt <ioapic driver='qemu'/>)."));
  if (eim && !ir) r.error(v.get("eim")!.value, "intremap-config", "eim=on cannot be selected without intremap=on", l10n.t("QEMU refuses this vIOMMU: add intremap: true, or drop eim."));
  if (vm.viommu && (ir || eim)) Object.assign(vm.viommu, { intremap: ir, eim });
}

/** `rmrr: [ { base, end, devices: [...] } ]`: the firmware's RMRRs (ACPI DMAR, VT-d 8.4). */
function parseRmrrs(r: Reader, node: Node | null): RmrrSpec[] {
  if (emptyList(node)) return [];
  if (!isSeq(node)) {
    r.error(node, "expected-list", l10n.t("host.iommu.rmrr must be a list"), l10n.t("- { base: 0x7b800000, end: 0x7b81ffff, devices: [\"00:14.0\"] } per RMRR."));
    return [];
  }
  const out: RmrrSpec[] = [];
  for (const alias of node.items as Node[]) {
    const it = r.deref(alias) ?? alias;
    const f = r.fields(it, ["base", "end", "devices"], "an RMRR");
    if (!f) continue;
    const base = addrReq(r, f, "base", "rmrr", it);
    const end = addrReq(r, f, "end", "rmrr", it);
    const devNode = r.required(f, "devices", "an RMRR", it);
    const devices: string[] = [];
    if (devNode !== undefined) {
      if (!isSeq(devNode) || devNode.items.length === 0) r.error(devNode, "expected-list", l10n.t("an RMRR's devices must be a non-empty list"), l10n.t("The device scope: devices: [\"00:14.0\"]."));
      else for (const d of devNode.items as Node[]) {
        const k = r.bdf(r.deref(d) ?? d, "an RMRR device")?.key;
        if (k !== undefined) devices.push(k);
      }
    }
    if (base === undefined || end === undefined) continue;
    // Linux rmrr_sanity_check() (drivers/iommu/intel/iommu.c): base and end + 1 page aligned, end > base.
    if (base % 4096n !== 0n || (end + 1n) % 4096n !== 0n || end <= base) {
      r.error(it, "invalid-value", l10n.t("RMRR [{0}-{1}] is not a page-aligned range", `0x${base.toString(16)}`, `0x${end.toString(16)}`), l10n.t("Linux rejects it as \"Your BIOS is broken; bad RMRR\": base must be 4KiB aligned and end the last byte of a page (e.g. 0x7b81ffff)."));
      continue;
    }
    out.push({ base, end, devices, range: r.range(it) });
  }
  return out;
}

/**
 * VT-d `host.iommu.ats`: [ "03:00.0" ] or [ { device: "03:00.0", invalidate: false } ]. Linux enables
 * a device's ATS only where the unit has ECAP.DT (iommu_probe_device: ecap_dev_iotlb_support), so
 * the list needs `device-iotlb: true`; `responds` (an ATS invalidation that never completes) is
 * AMD-Vi's alone here.
 */
function parseVtdAts(r: Reader, f: Fields, deviceTlb: boolean): AtsDeviceSpec[] {
  const at = f.get("ats")!;
  if (!deviceTlb) r.error(at.key, "invalid-value", l10n.t("ats needs a unit with device-TLB support (ECAP.DT)"), l10n.t("Add device-iotlb: true to host.iommu: Linux enables ATS only where ecap_dev_iotlb_support."));
  // responds: false - an endpoint that never completes a Device-TLB invalidation (Invalidation Time-out, ITE);
  // present: false - a surprise-removed one (no answer either, and pci_device_is_present() is false).
  const out = parseAts(r, at.value, ["device", "invalidate", "responds", "present"]);
  return out;
}

/**
 * VT-d `host.iommu.pri`: the ATS endpoints whose PRI capability is enabled. Page requests are a
 * scalable-mode feature (ECAP.PRS is reported only with ECAP.SMTS; QEMU vtd_decide_config), and a
 * page request follows a failed ATS Translation Request, so each device must be in `ats`.
 */
function parseVtdPri(r: Reader, f: Fields, ats: readonly AtsDeviceSpec[]): string[] {
  const at = f.get("pri")!;
  const pri = parseAts(r, at.value).map((a) => a.device);
  const scalable = f.has("scalable") && r.bool(f.get("scalable")!.value, "scalable") === true;
  if (!scalable) r.error(at.key, "scalable-mode-required", l10n.t("pri needs a unit in scalable mode (ECAP.PRS comes with ECAP.SMTS)"), l10n.t("Add scalable: true to host.iommu."));
  for (const d of pri) if (!ats.some((a) => a.device === d)) r.error(at.value, "invalid-value", l10n.t("{0} has PRI but not ATS", d), l10n.t("A page request follows a failed ATS Translation Request: list the device in host.iommu.ats too."));
  return pri;
}

/** `host.iommu.ats`: [ "03:00.0" ] or [ { device: "03:00.0", responds: false } ] - devices with ATS that Linux enables. */
function parseAts(r: Reader, node: Node | null, keys: readonly string[] = ["device", "responds"]): AtsDeviceSpec[] {
  const n = r.deref(node);
  if (n === null || n === undefined || emptyList(n)) return [];
  if (!isSeq(n)) {
    r.error(n, "expected-list", l10n.t("host.iommu.ats must be a list of devices"), l10n.t("- \"03:00.0\" or - { device: \"03:00.0\", responds: false } per ATS device."));
    return [];
  }
  const out: AtsDeviceSpec[] = [];
  for (const alias of n.items as Node[]) {
    const it = r.deref(alias) ?? alias;
    if (isScalar(it)) {
      const d = r.bdf(it, "device");
      if (d !== undefined) out.push({ device: d.key, responds: true, range: r.range(it) });
      continue;
    }
    const g = r.fields(it, [...keys], "an ATS device");
    if (!g) continue;
    const dn = r.required(g, "device", "an ATS device", it);
    const d = dn === undefined ? undefined : r.bdf(dn, "device");
    const responds = g.has("responds") ? (r.bool(g.get("responds")!.value, "responds") ?? true) : true;
    const invalidate = g.has("invalidate") ? r.bool(g.get("invalidate")!.value, "invalidate") : undefined;
    const pri = g.has("pri") ? r.bool(g.get("pri")!.value, "pri") : undefined;
    const present = g.has("present") ? r.bool(g.get("present")!.value, "present") : undefined;
    if (d !== undefined) out.push({ device: d.key, responds, ...(invalidate !== undefined ? { invalidate } : {}), ...(pri === true ? { pri } : {}), ...(present === false ? { present } : {}), range: r.range(it) });
  }
  return out;
}

const IVHD_KINDS = ["all", "select", "range", "alias", "alias-range", "ext-select", "ext-range", "special"] as const;

/**
 * `host.iommu.ivhd`: the IVRS IVHD device entries, in table order. Each item is one entry (or a
 * range's start and end pair) written by name - { type: alias, device: "04:00.0", alias: "04:00.1" },
 * { type: alias-range, first: "ff:00.0", last: "ff:1f.7", alias: "00:14.5" }, { type: select,
 * device, flags }, { type: range, first, last }, { type: ext-select, device, ext }, { type: all },
 * { type: special, variety: ioapic|hpet, handle, device } - or raw bytes as an IVRS dump shows them,
 * { bytes: "43 00 ff 00 00 a5 00 00 04 ff ff 00" }. Encoded to bytes here (scenario/ivhd.ts), then
 * read back as Linux reads them, so a malformed byte block is an error at its item.
 */
function parseIvhd(r: Reader, node: Node | null): IvhdBlockSpec[] {
  const n = r.deref(node);
  if (n === null || n === undefined || emptyList(n)) return [];
  if (!isSeq(n)) {
    r.error(n, "expected-list", l10n.t("host.iommu.ivhd must be a list of IVHD device entries"), l10n.t("- { type: alias, device: \"04:00.0\", alias: \"04:00.1\" } or - { bytes: \"42 00 04 00 00 01 04 00\" } per entry."));
    return [];
  }
  const out: IvhdBlockSpec[] = [];
  const nodes: Node[] = [];
  for (const alias of n.items as Node[]) {
    const it = r.deref(alias) ?? alias;
    const g = r.fields(it, ["type", "device", "first", "last", "alias", "flags", "ext", "variety", "handle", "bytes"], "an IVHD device entry");
    if (!g) continue;
    if (g.has("bytes")) {
      const raw = r.str(g.get("bytes")!.value, "bytes");
      if (raw === undefined) continue;
      const p = parseHexBytes(raw);
      if ("bad" in p) {
        r.error(g.get("bytes")!.value, "invalid-value", l10n.t("{0} is not a byte in hex", quoted(p.bad)), l10n.t("Write the entry's bytes as hex pairs, as acpidump or iasl print them: \"43 00 ff 00 00 a5 00 00\"."));
        continue;
      }
      out.push({ bytes: p.bytes, range: r.range(it) });
      nodes.push(it);
      continue;
    }
    const tn = r.required(g, "type", "an IVHD device entry", it);
    const kind = tn === undefined ? undefined : r.enumOf(tn, "type", IVHD_KINDS);
    if (kind === undefined) continue;
    const flags = g.has("flags") ? r.int(g.get("flags")!.value, "flags", 0, 255) : 0;
    const devOf = (k: string): number | undefined => {
      const v = r.required(g, k, l10n.t("an IVHD {0} entry", kind), it);
      const b = v === undefined ? undefined : r.bdf(v, k);
      return b === undefined ? undefined : (b.bdf.bus << 8) | (b.bdf.device << 3) | b.bdf.fn;
    };
    if (flags === undefined) continue;
    let bytes: number[] | undefined;
    switch (kind) {
      case "all":
        bytes = ivhdEntry4(IVHD_DEV_ALL, 0, flags);
        break;
      case "select": {
        const d = devOf("device");
        if (d !== undefined) bytes = ivhdEntry4(IVHD_DEV_SELECT, d, flags);
        break;
      }
      case "alias": {
        const d = devOf("device");
        const a = devOf("alias");
        if (d !== undefined && a !== undefined) bytes = ivhdEntry8(IVHD_DEV_ALIAS, d, flags, aliasExt(a));
        break;
      }
      case "ext-select": {
        const d = devOf("device");
        const e = r.required(g, "ext", l10n.t("an IVHD {0} entry", kind), it);
        const ext = e === undefined ? undefined : r.int(e, "ext", 0, 0xffffffff);
        if (d !== undefined && ext !== undefined) bytes = ivhdEntry8(IVHD_DEV_EXT_SELECT, d, flags, ext);
        break;
      }
      case "special": {
        const d = devOf("device");
        const vn = r.required(g, "variety", l10n.t("an IVHD {0} entry", kind), it);
        const variety = vn === undefined ? undefined : r.enumOf(vn, "variety", ["ioapic", "hpet"] as const);
        const hn = r.required(g, "handle", l10n.t("an IVHD {0} entry", kind), it);
        const handle = hn === undefined ? undefined : r.int(hn, "handle", 0, 255);
        if (d !== undefined && variety !== undefined && handle !== undefined) bytes = ivhdEntry8(IVHD_DEV_SPECIAL, 0, flags, (handle | (d << 8) | ((variety === "ioapic" ? IVHD_SPECIAL_IOAPIC : IVHD_SPECIAL_HPET) << 24)) >>> 0);
        break;
      }
      default: {
        // A range: its start entry (SELECT_RANGE_START, ALIAS_RANGE or EXT_SELECT_RANGE) and DEV_RANGE_END.
        const first = devOf("first");
        const last = devOf("last");
        if (first === undefined || last === undefined) break;
        if (last < first) {
          r.error(it, "invalid-value", l10n.t("an IVHD range ends before it starts"), l10n.t("\"last\" is the highest device id of the range, \"first\" the lowest."));
          break;
        }
        let start: number[] | undefined;
        if (kind === "range") start = ivhdEntry4(IVHD_DEV_SELECT_RANGE_START, first, flags);
        else if (kind === "alias-range") {
          const a = devOf("alias");
          if (a !== undefined) start = ivhdEntry8(IVHD_DEV_ALIAS_RANGE, first, flags, aliasExt(a));
        } else {
          const e = r.required(g, "ext", l10n.t("an IVHD {0} entry", kind), it);
          const ext = e === undefined ? undefined : r.int(e, "ext", 0, 0xffffffff);
          if (ext !== undefined) start = ivhdEntry8(IVHD_DEV_EXT_SELECT_RANGE, first, flags, ext);
        }
        if (start !== undefined) bytes = [...start, ...ivhdEntry4(IVHD_DEV_RANGE_END, last, 0)];
      }
    }
    if (bytes === undefined) continue;
    out.push({ bytes, range: r.range(it) });
    nodes.push(it);
  }
  // Read the whole block back as Linux walks it: one bad entry stops the walk there.
  const all = out.flatMap((b) => b.bytes);
  const d = decodeIvhd(all);
  if (!d.ok) {
    let at = 0;
    for (let i = 0; i < out.length; i++) {
      if (d.offset < at + out[i]!.bytes.length) {
        r.error(nodes[i], "invalid-value", d.message, d.hint);
        return out.slice(0, i);
      }
      at += out[i]!.bytes.length;
    }
  }
  return out;
}

/** `pci:`, `vms:`, `workload:` with nothing after them (or null, ~): an empty list. */
/** The keys an amd-vi host.iommu takes (docs/amd-vi.md); the VT-d ones are errors there, with a hint. */
const AMD_KEYS = ["model", "address-width", "iotlb", "host-pass-through", "unity-maps", "ivhd", "intremap", "ga", "ats", "ppr-interrupt"];

/**
 * `host.iommu` with `model: amd-vi`: address-width (39, 48 or 57: the v1 table's 3, 4 or 5 levels
 * the unit supports, EFR HATS), iotlb { sets, ways }, host-pass-through (iommu=pt), and
 * unity-maps: the IVRS IVMD ranges [{ device, start, size, perm }] mapped 1:1 in the device's
 * default domain. Returns a full IommuSpec (the VT-d fields at their defaults) with `amd` set.
 */
function parseAmdIommu(r: Reader, node: Node | null, f: Fields): IommuSpec | undefined {
  for (const [k, e] of f) {
    if (!AMD_KEYS.includes(k)) r.error(e.key, "invalid-value", l10n.t("{0} is an Intel VT-d option, not one of AMD-Vi", quoted(k)), l10n.t("An amd-vi host.iommu takes {0}.", AMD_KEYS.join(", ")));
  }
  let aw: 39 | 48 | 57 = 48;
  const awNode = f.get("address-width")?.value ?? null;
  if (awNode !== null) {
    const v = r.int(awNode, "host.iommu.address-width", 0, 64);
    if (v !== undefined && v !== 39 && v !== 48 && v !== 57) r.error(awNode, "invalid-value", l10n.t("host.iommu.address-width {0} is not an AMD-Vi v1 table width", v), l10n.t("AMD-Vi v1 page tables of 3, 4 or 5 levels cover 39, 48 or 57 bits."));
    else if (v !== undefined) aw = v;
  }
  const { sets, ways } = parseIotlbGeometry(r, f.get("iotlb")?.value ?? null, 256);
  const unityMaps: UnityMapSpec[] = [];
  const um = r.deref(f.get("unity-maps")?.value ?? null);
  if (um !== null && um !== undefined) {
    if (!isSeq(um)) r.error(um, "expected-list", l10n.t("host.iommu.unity-maps must be a list"), l10n.t("- { device: \"01:00.0\", start: 0xcff00000, size: 1MiB, perm: r } per IVMD range."));
    else
      for (const alias of um.items as Node[]) {
        const it = r.deref(alias) ?? alias;
        const g = r.fields(it, ["device", "start", "size", "perm"], "a unity map");
        if (!g) continue;
        const need = (k: string) => r.required(g, k, "a unity map", it);
        const dn = need("device");
        const an = need("start");
        const sn = need("size");
        const dev = dn === undefined ? undefined : r.bdf(dn, "device")?.key;
        const start = an === undefined ? undefined : r.addr(an, "start");
        const size = sn === undefined ? undefined : r.size(sn, "size");
        const perm = g.has("perm") ? r.parsed(g.get("perm")!.value, "perm", "invalid-value", parsePerm) : "rw";
        if (dev === undefined || start === undefined || size === undefined || perm === undefined) continue;
        if ((start | size) % 4096n !== 0n || size === 0n) {
          r.error(it, "invalid-value", l10n.t("a unity map must be whole 4 KiB pages"), l10n.t("IVMD ranges are page aligned: start and size multiples of 0x1000."));
          continue;
        }
        unityMaps.push({ device: dev, start, size, read: perm !== "w", write: perm !== "r", range: r.range(it) });
      }
  }
  const hostPt = f.has("host-pass-through") ? (r.bool(f.get("host-pass-through")!.value, "host.iommu.host-pass-through") ?? false) : false;
  const ivhd = f.has("ivhd") ? parseIvhd(r, f.get("ivhd")!.value) : undefined;
  const ats = f.has("ats") ? parseAts(r, f.get("ats")!.value, ["device", "responds", "invalidate", "pri"]) : undefined;
  return amdviIommuSpec(
    { unityMaps, ...(ivhd !== undefined ? { ivhd } : {}), ...(f.has("intremap") ? { intremap: r.bool(f.get("intremap")!.value, "host.iommu.intremap") ?? true } : {}), ...(f.has("ga") ? { ga: r.bool(f.get("ga")!.value, "host.iommu.ga") ?? true } : {}), ...(ats !== undefined ? { ats } : {}), ...(f.has("ppr-interrupt") ? { pprInterrupt: r.bool(f.get("ppr-interrupt")!.value, "host.iommu.ppr-interrupt") ?? true } : {}) },
    { addressWidth: aw, iotlbSets: sets, iotlbWays: ways, hostPassThrough: hostPt, range: r.range(node) },
  );
}

function emptyList(node: Node | null): boolean {
  return node === null || (isScalar(node) && node.value === null);
}

function parsePci(r: Reader, node: Node | null, noAri = false): PciDeviceSpec[] {
  if (emptyList(node)) return [];
  if (!isSeq(node)) {
    r.error(node, "expected-list", l10n.t("host.pci must be a list of devices"), l10n.t("- { bdf: \"01:00.0\", ... } per device."));
    return [];
  }
  const out: PciDeviceSpec[] = [];
  const seen = new Map<string, Node>();
  for (const at of node.items as Node[]) {
    r.ticker.tick();
    const item = r.deref(at) ?? at;
    const f = r.fields(item, ["bdf", "kind", "parent", "id", "name", "driver", "acs", "multifunction", "secondary-bus", "sriov", "physfn", "subordinate-bus", "ari"], "a PCI device");
    if (!f) continue;
    const bdfNode = r.required(f, "bdf", "a PCI device", item);
    const b = bdfNode === undefined ? undefined : r.bdf(bdfNode, "bdf");
    if (b === undefined) continue;
    if (seen.has(b.key)) {
      r.error(bdfNode, "bdf-duplicate", l10n.t("{0} is listed twice", b.key), l10n.t("Each PCI function appears once in host.pci."));
      continue;
    }
    seen.set(b.key, item);
    const spec: PciDeviceSpec = { bdf: b.bdf, key: b.key, kind: "endpoint", acs: false, range: r.range(item) };
    if (f.has("kind")) spec.kind = r.enumOf(f.get("kind")!.value, "kind", PCI_KINDS) ?? "endpoint";
    if (f.has("parent")) {
      const p = r.bdf(f.get("parent")!.value, "parent");
      if (p) spec.parent = p.key;
    }
    if (f.has("id")) {
      const s = r.str(f.get("id")!.value, "id");
      const m = s === undefined ? null : /^([0-9a-f]{4}):([0-9a-f]{4})$/i.exec(s);
      if (m) {
        spec.vendorId = parseInt(m[1]!, 16);
        spec.deviceId = parseInt(m[2]!, 16);
      } else if (s !== undefined) r.error(f.get("id")!.value, "pci-id-malformed", l10n.t("PCI id {0} is not vendor:device", quoted(s)), l10n.t("Write it as lspci -nn prints it, e.g. \"8086:1572\"."));
    }
    if (f.has("name")) {
      const s = r.str(f.get("name")!.value, "name");
      if (s !== undefined) spec.name = s;
    }
    if (f.has("driver")) {
      const v = f.get("driver")!.value;
      if (!(isScalar(v) && v.value === null)) {
        const s = r.str(v, "driver");
        if (s !== undefined) spec.driver = s;
      }
    }
    if (f.has("acs")) spec.acs = r.bool(f.get("acs")!.value, "acs") ?? false;
    if (f.has("multifunction")) spec.multifunction = r.bool(f.get("multifunction")!.value, "multifunction") ?? false;
    if (f.has("secondary-bus")) {
      const v = r.int(f.get("secondary-bus")!.value, "secondary-bus", 0, 255);
      if (v !== undefined) spec.secondaryBus = v;
    }
    if (f.has("subordinate-bus")) {
      const v = r.int(f.get("subordinate-bus")!.value, "subordinate-bus", 0, 255);
      if (v !== undefined && spec.secondaryBus !== undefined && v < spec.secondaryBus) r.error(f.get("subordinate-bus")!.value, "bus-mismatch", l10n.t("subordinate-bus {0} is below secondary-bus {1}", hex2(v), hex2(spec.secondaryBus)), l10n.t("The subordinate bus is the last bus number below the bridge: at least its secondary bus."));
      else if (v !== undefined) spec.subordinateBus = v;
    }
    if (f.has("ari")) spec.ari = r.bool(f.get("ari")!.value, "ari") ?? false;
    if (f.has("physfn")) {
      const p = r.bdf(f.get("physfn")!.value, "physfn");
      if (p) spec.physfn = p.key;
    }
    if (f.has("sriov")) parseSriov(r, f.get("sriov")!.value, spec);
    out.push(spec);
  }
  // SR-IOV: the enabled VFs join host.pci (scenario/sriov.ts).
  if (out.some((d) => d.sriov !== undefined || d.physfn !== undefined)) {
    const x = expandVfs(out, noAri);
    for (const p of x.problems) r.error(null, p.code, p.message, p.hint, p.range);
    out.splice(0, out.length, ...x.devices);
  }
  // Topology references.
  const byKey = new Map(out.map((d) => [d.key, d]));
  for (const d of out) {
    if (d.parent === undefined) continue;
    // A VF's bus may lie beyond its PF's (VF routing IDs cross buses): no bus check for it.
    if (d.physfn !== undefined) continue;
    const p = byKey.get(d.parent);
    const at = { ...d.range };
    if (p === undefined) r.error(null, "parent-unknown", l10n.t("{0}: parent {1} is not in host.pci", d.key, d.parent), l10n.t("Add the upstream port or bridge to host.pci, or remove `parent`."), at);
    else if (!BRIDGE_KINDS.has(p.kind)) r.error(null, "parent-not-bridge", l10n.t("{0}: parent {1} is a {2}, not a bridge", d.key, p.key, p.kind), l10n.t("A parent must be a root-port, switch port or pcie-pci-bridge (set its kind)."), at);
    else if (p.secondaryBus !== undefined && p.secondaryBus !== d.bdf.bus)
      r.error(null, "bus-mismatch", l10n.t("{0} is on bus {1} but its parent {2} has secondary-bus {3}", d.key, hex2(d.bdf.bus), p.key, hex2(p.secondaryBus)), l10n.t("Put it on bus {0} or fix the parent's secondary-bus.", hex2(p.secondaryBus)), at);
  }
  return out;
}

/** `acs-override: "downstream,multifunction"` or a list of the same items, as pcie_acs_override= reads them. */
function parseAcsOverrideNode(r: Reader, node: Node | null): AcsOverrideSpec | undefined {
  node = r.deref(node);
  let text: string | undefined;
  if (isSeq(node)) {
    const items: string[] = [];
    for (const it of node.items as Node[]) {
      const s = r.str(r.deref(it), "acs-override item");
      if (s !== undefined) items.push(s);
    }
    text = items.join(",");
  } else text = r.str(node, "host.acs-override");
  if (text === undefined) return undefined;
  const { spec, warnings } = parseAcsOverride(text, r.range(node));
  for (const w of warnings) r.report("warning", node, "acs-override-ignored", l10n.t("pcie_acs_override={0}: the kernel prints \"{1}\" and ignores that item", text, w), l10n.t("Items are downstream, multifunction and id:VVVV:DDDD (vendor and device in hex), separated by commas."));
  if (!acsOverrideActive(spec)) r.report("warning", node, "acs-override-ignored", l10n.t("pcie_acs_override={0} enables nothing", text), l10n.t("Items are downstream, multifunction and id:VVVV:DDDD (vendor and device in hex), separated by commas."));
  return spec;
}

/** `sriov: { total-vfs, num-vfs, first-vf-offset, vf-stride, vf-device-id, vf-driver }` (the SR-IOV capability's fields). */
function parseSriov(r: Reader, node: Node | null, spec: PciDeviceSpec): void {
  const f = r.fields(node, ["total-vfs", "num-vfs", "first-vf-offset", "vf-stride", "vf-device-id", "vf-driver"], "sriov");
  if (!f) return;
  // TotalVFs, NumVFs, First VF Offset and VF Stride are 16-bit registers of the capability.
  const int16 = (k: string, dflt: number) => (f.has(k) ? r.int(f.get(k)!.value, `sriov.${k}`, 0, 0xffff) : dflt);
  const totalVfs = int16("total-vfs", -1);
  const numVfs = int16("num-vfs", 0);
  const firstVfOffset = int16("first-vf-offset", 1);
  const vfStride = int16("vf-stride", 1);
  if (totalVfs === -1) {
    r.error(node, "sriov-invalid", l10n.t("sriov needs total-vfs (the capability's TotalVFs)"), l10n.t("lspci -vv shows it as \"Total VFs: N\" under \"Single Root I/O Virtualization (SR-IOV)\"."));
    return;
  }
  if (totalVfs === undefined || numVfs === undefined || firstVfOffset === undefined || vfStride === undefined) return;
  const sr: NonNullable<PciDeviceSpec["sriov"]> = { totalVfs, numVfs, firstVfOffset, vfStride, range: r.range(node) };
  if (f.has("vf-device-id")) {
    const s = r.str(f.get("vf-device-id")!.value, "sriov.vf-device-id");
    if (s !== undefined && /^[0-9a-f]{4}$/i.test(s)) sr.vfDeviceId = parseInt(s, 16);
    else if (s !== undefined) r.error(f.get("vf-device-id")!.value, "pci-id-malformed", l10n.t("VF device id {0} is not 4 hex digits", quoted(s)), l10n.t("Write it as lspci -vv prints \"VF Device ID\", e.g. \"154c\"."));
  }
  if (f.has("vf-driver")) {
    const v = f.get("vf-driver")!.value;
    if (!(isScalar(v) && v.value === null)) {
      const s = r.str(v, "sriov.vf-driver");
      if (s !== undefined) sr.vfDriver = s;
    }
  }
  spec.sriov = sr;
}

function parseVms(r: Reader, node: Node | null, host: HostSpec | undefined): VmSpec[] {
  if (emptyList(node)) return [];
  if (!isSeq(node)) {
    r.error(node, "expected-list", l10n.t("vms must be a list"), l10n.t("- name: web01 ... per VM."));
    return [];
  }
  const out: VmSpec[] = [];
  const owner = new Map<string, string>();
  const names = new Set<string>();
  const pciByKey = new Map(host?.pci.map((p) => [p.key, p]));
  for (const at of node.items as Node[]) {
    r.ticker.tick();
    const item = r.deref(at) ?? at;
    const f = r.fields(item, ["name", "memory", "devices", "viommu", "irqchip", "backend", "rlimit-mode", "libvirt"], "a VM");
    if (!f) continue;
    const nameNode = r.required(f, "name", "a VM", item);
    const name = nameNode === undefined ? undefined : r.str(nameNode, "name");
    if (name === undefined) continue;
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) r.error(nameNode, "vm-name-invalid", l10n.t("VM name {0} has characters other than letters, digits, _ . -", quoted(name)), l10n.t("Use a simple name like web01."));
    if (names.has(name)) r.error(nameNode, "vm-duplicate", l10n.t("a VM named {0} already exists", quoted(name)), l10n.t("Give each VM a unique name."));
    const memory = f.has("memory") ? r.size(f.get("memory")!.value, "memory") : 1n << 30n;
    if (memory !== undefined && (memory === 0n || memory % 4096n !== 0n)) r.error(f.get("memory")?.value, "vm-memory-invalid", l10n.t("VM memory must be a non-zero multiple of 4KiB"), l10n.t("For example 2GiB."));
    const vm: VmSpec = { name, memory: memory ?? 1n << 30n, devices: [], range: r.range(item) };
    const devs = f.get("devices")?.value ?? null;
    if (devs !== null) {
      if (!isSeq(devs)) r.error(devs, "expected-list", l10n.t("devices must be a list of BDFs"), '["01:00.0"]');
      else
        for (const alias of devs.items as Node[]) {
          const d = r.deref(alias) ?? alias;
          const b = r.bdf(d, "an assigned device");
          if (!b) continue;
          r.ticker.tick();
          const spec = pciByKey.get(b.key);
          if (host && !spec) r.error(d, "unknown-device", l10n.t("{0} is not a device in host.pci", b.key), l10n.t("Add it to host.pci or fix the BDF."));
          else if (owner.has(b.key) && owner.get(b.key) !== name) r.error(d, "device-assigned-twice", l10n.t("{0} is already assigned to VM {1}", b.key, String(owner.get(b.key))), l10n.t("A device can be assigned to one VM at a time."));
          else if (spec && spec.driver !== "vfio-pci") r.report("warning", d, "driver-not-vfio", l10n.t("{0} is bound to {1}, not vfio-pci", b.key, spec.driver ? quoted(spec.driver) : "no driver"), l10n.t("Bind it to vfio-pci (driver: vfio-pci in host.pci), or QEMU cannot open it."));
          owner.set(b.key, name);
          vm.devices.push(b.key);
        }
    }
    const vi = f.get("viommu")?.value ?? null;
    if (vi !== null) {
      const v = r.fields(vi, ["model", "caching-mode", "aw-bits", "device-iotlb", "intremap", "eim", "granule", "bypass"], "viommu");
      if (v) {
        const model = v.has("model") ? r.enumOf(v.get("model")!.value, "viommu.model", ["intel", "virtio-iommu"] as const) : undefined;
        if (model === "virtio-iommu") {
          vm.viommu = { model, cachingMode: true, range: r.range(vi) };
          for (const k of ["caching-mode", "device-iotlb", "intremap", "eim"]) {
            const n = v.get(k);
            if (n) r.error(n.key, "viommu-option", l10n.t("virtio-iommu has no {0} option", k), l10n.t("{0} belongs to QEMU's intel-iommu; virtio-iommu-pci takes granule and aw-bits.", k));
          }
          const awNode = v.get("aw-bits")?.value;
          if (awNode !== undefined) {
            const aw = r.int(awNode, "viommu.aw-bits", 1, 64);
            // QEMU hw/virtio/virtio-iommu.c virtio_iommu_device_realize(): error_setg(errp, "aw-bits must be within [32,64]").
            if (aw !== undefined && aw >= 32 && aw <= 64) vm.viommu.awBits = aw;
            else if (aw !== undefined) r.error(awNode, "viommu-aw-bits", l10n.t("aw-bits must be within [32,64]"), l10n.t("virtio-iommu's aw-bits is the width of the guest's IOVA input range: 48 is QEMU's default on Arm virt, 39 on q35."));
          }
          const gNode = v.get("granule")?.value;
          if (gNode !== undefined) {
            // QEMU hw/virtio/virtio-iommu.c "granule" property (GranuleMode): 4k, 8k, 16k, 64k or host.
            const g = r.enumOf(gNode, "viommu.granule", ["4k", "8k", "16k", "64k", "host"] as const);
            if (g !== undefined && g !== "host") vm.viommu.granule = Number.parseInt(g, 10) * 1024;
          }
          const bNode = v.get("bypass")?.value;
          if (bNode !== undefined && r.bool(bNode, "viommu.bypass") === true) vm.viommu.bypass = true;
        } else {
        const cm = v.has("caching-mode") ? r.bool(v.get("caching-mode")!.value, "viommu.caching-mode") ?? true : true;
        vm.viommu = { model: "intel", cachingMode: cm, range: r.range(vi) };
        for (const k of ["granule", "bypass"]) {
          const gn = v.get(k);
          if (gn) r.error(gn.key, "viommu-option", l10n.t("intel-iommu has no {0} option", k), l10n.t("{0} is a virtio-iommu option (model: virtio-iommu).", k));
        }
        const awNode = v.get("aw-bits")?.value;
        if (awNode !== undefined) {
          const aw = r.int(awNode, "viommu.aw-bits", 1, 64);
          // QEMU hw/i386/intel_iommu.c vtd_decide_config(): error_setg(errp, "%s: supported values for aw-bits are: %d, %d", "Legacy mode", 39, 48).
          if (aw === 39 || aw === 48) vm.viommu.awBits = aw;
          else if (aw !== undefined) r.error(awNode, "viommu-aw-bits", l10n.t("Legacy mode: supported values for aw-bits are: 39, 48"), l10n.t("QEMU's intel-iommu in legacy mode takes aw-bits=39 (3-level tables) or aw-bits=48 (4-level)."));
        }
        if (v.has("device-iotlb")) vm.viommu.deviceIotlb = r.bool(v.get("device-iotlb")!.value, "viommu.device-iotlb") ?? false;
        viommuIntremap(r, v, f, vm);
        }
      }
    }
    if (f.has("backend")) {
      const b = r.enumOf(f.get("backend")!.value, "backend", ["type1", "iommufd"] as const);
      if (b === "iommufd") vm.backend = b;
    }
    const rl = f.get("rlimit-mode");
    if (rl) {
      // IOMMU_OPTION_RLIMIT_MODE is an iommufd option (drivers/iommu/iommufd/ioas.c iommufd_option_rlimit_mode).
      const m = r.enumOf(rl.value, "rlimit-mode", ["user", "mm"] as const);
      if (vm.backend !== "iommufd") r.error(rl.key, "invalid-value", l10n.t("rlimit-mode is an iommufd option; VM {0} uses the type1 backend", name), l10n.t("Add backend: iommufd, or drop rlimit-mode (type1 always charges the VMM process's locked_vm)."));
      else if (m !== undefined) vm.rlimitMode = m;
    }
    const lv = f.get("libvirt")?.value ?? null;
    if (lv !== null) parseLibvirtMem(r, lv, vm);
    names.add(name);
    out.push(vm);
  }
  if (host) {
    // Bound the work of backing guest RAM: one host frame object per backing granule.
    for (const vm of out) {
      const frames = vm.memory / host.backing;
      if (frames > MAX_FRAMES_PER_VM) {
        r.error(null, "vm-too-many-pages", l10n.t("VM {0}: {1} MiB in {2} KiB pages is {3} host frames; the simulation allows {4}", vm.name, String(vm.memory >> 20n), String(host.backing >> 10n), String(frames), String(MAX_FRAMES_PER_VM)), l10n.t("Use host.backing: 2MiB (or 1GiB), or give the VM less memory."), vm.range);
      }
    }
    const total = out.reduce((s, v) => s + v.memory, 0n);
    if (total > host.memory - (1n << 30n)) r.error(node, "host-memory-exceeded", l10n.t("the VMs need {0} MiB but the host has {1} MiB for guests", String(total >> 20n), String((host.memory - (1n << 30n)) >> 20n)), l10n.t("Raise host.memory or give the VMs less memory."));
  }
  return out;
}

/** `libvirt: { hard-limit, locked, nvme-disks, vdpa-devices }`: what libvirt's memlock limit reads (sim/reserved.ts). */
function parseLibvirtMem(r: Reader, node: Node, vm: VmSpec): void {
  const f = r.fields(node, ["hard-limit", "locked", "nvme-disks", "vdpa-devices"], "libvirt");
  if (!f) return;
  const spec: LibvirtMemSpec = { range: r.range(node) };
  const hl = f.get("hard-limit")?.value ?? null;
  if (hl !== null && !(isScalar(hl) && String(hl.value) === "unlimited")) {
    const v = r.size(hl, "libvirt.hard-limit");
    // libvirt's <hard_limit> is in KiB (virDomainParseMemory rounds to 1024 bytes).
    if (v !== undefined && (v === 0n || v % 1024n !== 0n)) r.error(hl, "libvirt-hard-limit", l10n.t("libvirt.hard-limit must be a non-zero multiple of 1KiB"), l10n.t("<memtune><hard_limit unit='KiB'> counts KiB; for example 6GiB."));
    else if (v !== undefined) spec.hardLimit = v;
  }
  if (f.has("locked")) spec.locked = r.bool(f.get("locked")!.value, "libvirt.locked") ?? false;
  if (f.has("nvme-disks")) {
    const n = r.int(f.get("nvme-disks")!.value, "libvirt.nvme-disks", 0, 64);
    if (n !== undefined) spec.nvmeDisks = n;
  }
  if (f.has("vdpa-devices")) {
    const n = r.int(f.get("vdpa-devices")!.value, "libvirt.vdpa-devices", 0, 64);
    if (n !== undefined) spec.vdpaDevices = n;
  }
  vm.libvirt = spec;
}

function parseWorkload(r: Reader, node: Node | null): Step[] {
  if (emptyList(node)) return [];
  if (!isSeq(node)) {
    r.error(node, "expected-list", l10n.t("workload must be a list of steps"), l10n.t("- start: web01 per step."));
    return [];
  }
  if (node.items.length > MAX_STEPS) {
    r.error(node, "too-many-steps", l10n.t("the workload has {0} steps; the limit is {1}", node.items.length, MAX_STEPS), l10n.t("Use repeat: on a dma step instead."));
    return [];
  }
  const steps: Step[] = [];
  for (const at of node.items as Node[]) {
    r.ticker.tick();
    if (at instanceof ReadStep) {
      at.step.index = steps.length;
      steps.push(at.step);
      continue;
    }
    const item = r.deref(at) ?? at;
    const s = parseStep(r, item, steps.length, at);
    if (s) steps.push(s);
  }
  return steps;
}

/** `at`: where the step is written (an alias of a step mapping elsewhere is the step here). */
function parseStep(r: Reader, item: Node, index: number, at: Node = item): Step | undefined {
  if (isMap(item) && item.items.length === 1) {
    const only = item.items[0] as Pair<Node, Node | null>;
    // A plain mapping (no alias: deref counts an alias against the scenario's alias budget once).
    if (isScalar(only.key) && only.key.value === "dma" && isMap(only.value)) return singleDmaStep(r, only.value, item, index, at);
  }
  if (!isMap(item)) {
    r.error(item, "expected-mapping", l10n.t("a workload step must be a mapping like `dma: { ... }`"), l10n.t("Steps: {0}.", STEP_OPS.join(", ")));
    return undefined;
  }
  const pairs = item.items as Pair<Node, Node | null>[];
  let opPair: Pair<Node, Node | null> | undefined;
  let expectNode: Node | null | undefined;
  const before = r.diagnostics.length;
  for (const p of pairs) {
    const k = isScalar(p.key) ? String(p.key.value) : "";
    if (k === "expect") {
      if (expectNode !== undefined) r.duplicate(p.key, k, "a step");
      else expectNode = r.valueOf(p);
    } else if ((STEP_OPS as readonly string[]).includes(k)) {
      if (opPair && String((opPair.key as { value?: unknown }).value) === k) r.duplicate(p.key, k, "a step");
      else if (opPair) r.error(p.key, "step-two-ops", l10n.t("a step has two operations (\"{0}\" and \"{1}\")", String((opPair.key as { value?: unknown }).value), k), l10n.t("Put each operation in its own list item (- ...)."));
      else opPair = p;
    } else {
      const near = didYouMean(k, [...STEP_OPS, "expect"]);
      r.error(p.key, "unknown-step", l10n.t("unknown step {0}", quoted(k)), near ? l10n.t("Did you mean \"{0}\"?", near) : l10n.t("Steps: {0}.", STEP_OPS.join(", ")));
    }
  }
  if (!opPair) {
    // Only when nothing in the step was reported already (counted, not searched: a search of all
    // diagnostics per step was quadratic in a workload of broken steps).
    if (r.diagnostics.length === before) r.error(item, "missing-op", l10n.t("this step has no operation"), l10n.t("Steps: {0}.", STEP_OPS.join(", ")));
    return undefined;
  }
  const op = String((opPair.key as { value?: unknown }).value) as Step["op"];
  const body = r.valueOf(opPair);
  const base = { index, range: r.range(at) };
  const expect = expectNode === undefined ? undefined : parseExpect(r, expectNode);
  const withExpect = <T extends object>(s: T): T => (expect ? { ...s, expect } : s);
  const fields = (known: string[]) => r.fields(body, known, `the ${op} step`);
  switch (op) {
    case "start":
    case "stop": {
      const vm = r.str(body, `${op}'s VM name`);
      return vm === undefined ? undefined : withExpect({ ...base, op, vm });
    }
    case "wait": {
      const ns = r.parsed(body, "wait", "duration-malformed", parseDuration);
      return ns === undefined ? undefined : withExpect({ ...base, op, ns });
    }
    case "assign":
    case "detach": {
      const f = fields(["vm", "device"]);
      if (!f) return undefined;
      const vm = strReq(r, f, "vm", op, item);
      const dev = bdfReq(r, f, "device", op, item);
      return vm === undefined || dev === undefined ? undefined : withExpect({ ...base, op, vm, device: dev });
    }
    case "map":
    case "guest-map": {
      const f = fields(op === "map" ? ["vm", "iova", "size", "perm", "gpa"] : ["vm", "device", "iova", "size", "perm", "gpa", "invalidate"]);
      if (!f) return undefined;
      const vm = strReq(r, f, "vm", op, item);
      const iova = addrReq(r, f, "iova", op, item);
      const size = sizeReq(r, f, "size", op, item);
      const perm = f.has("perm") ? r.parsed(f.get("perm")!.value, "perm", "invalid-value", parsePerm) : "rw";
      const gpa = f.has("gpa") ? r.addr(f.get("gpa")!.value, "gpa") : undefined;
      if (vm === undefined || iova === undefined || size === undefined || perm === undefined) return undefined;
      if (op === "map") return withExpect({ ...base, op, vm, iova, size, perm, ...(gpa !== undefined ? { gpa } : {}) });
      const device = bdfReq(r, f, "device", op, item);
      const inv = f.has("invalidate") ? r.bool(f.get("invalidate")!.value, "invalidate") : undefined;
      return device === undefined ? undefined : withExpect({ ...base, op, vm, device, iova, size, perm, gpa: gpa ?? iova, ...(inv === false ? { invalidate: false } : {}) });
    }
    case "unmap":
    case "guest-unmap": {
      const f = fields(op === "unmap" ? ["vm", "iova", "size"] : ["vm", "device", "iova", "size", "invalidate", "device-iotlb-invalidate"]);
      if (!f) return undefined;
      const vm = strReq(r, f, "vm", op, item);
      const iova = addrReq(r, f, "iova", op, item);
      const size = sizeReq(r, f, "size", op, item);
      if (vm === undefined || iova === undefined || size === undefined) return undefined;
      if (op === "unmap") return withExpect({ ...base, op, vm, iova, size });
      const device = bdfReq(r, f, "device", op, item);
      const invalidate = f.has("invalidate") ? r.bool(f.get("invalidate")!.value, "invalidate") ?? true : true;
      // device-iotlb-invalidate: false - the guest flushes the IOTLB but forgets the Device-TLB invalidation.
      const devtlb = f.has("device-iotlb-invalidate") ? r.bool(f.get("device-iotlb-invalidate")!.value, "device-iotlb-invalidate") : undefined;
      return device === undefined ? undefined : withExpect({ ...base, op, vm, device, iova, size, invalidate, ...(devtlb === false ? { deviceIotlbInvalidate: false } : {}) });
    }
    case "dma": {
      if (!isSeq(body)) {
        const s = singleDmaStep(r, body, item, index, at, base.range);
        return s === undefined ? undefined : withExpect(s);
      }
      // Several devices' transfers in one step, their transactions interleaved.
      if (body.items.length === 0 || body.items.length > MAX_DMA_TRANSFERS) {
        r.error(body, "dma-transfers", l10n.t("a dma list must hold 1 to {0} transfers, not {1}", MAX_DMA_TRANSFERS, body.items.length), l10n.t("One { device, iova, length, write } mapping per device, e.g. dma: [ { device: \"01:00.0\", iova: 0x1000 }, { device: \"02:00.0\", iova: 0x1000 } ]."));
        return undefined;
      }
      const transfers: DmaTransferSpec[] = [];
      let total = 0;
      let bad = false;
      for (const alias of body.items as Node[]) {
        const it = r.deref(alias) ?? alias;
        const t = dmaTransferSpec(r, it, it, r.range(it));
        if (t === undefined) bad = true;
        else {
          transfers.push(t.spec);
          total += t.pages * t.spec.repeat;
        }
      }
      if (bad) return undefined;
      if (total > MAX_DMA_TRANSACTIONS) {
        r.error(body, "dma-too-large", l10n.t("this step would simulate {0} transactions; the limit is {1}", total, MAX_DMA_TRANSACTIONS), l10n.t("Lower repeat or length: a few million transactions already make a large trace."));
        return undefined;
      }
      const { range: _first, ...first } = transfers[0]!;
      return withExpect({ ...base, op, ...first, transfers });
    }
    case "bind-pasid":
      return parseBindPasid(r, body, item, base, withExpect);
    case "page-response": {
      const f = fields(["device"]);
      if (!f) return undefined;
      const device = bdfReq(r, f, "device", op, item);
      return device === undefined ? undefined : withExpect({ ...base, op, device });
    }
    case "page-request": {
      // A PCIe Page Request Message from a PRI device (VT-d 7.4.1.1): `pages` consecutive pages in one group.
      const f = fields(["device", "address", "pasid", "write", "read", "exec", "privileged", "pages", "last", "prgi", "private-data"]);
      if (!f) return undefined;
      const device = bdfReq(r, f, "device", op, item);
      const address = addrReq(r, f, "address", op, item);
      const pasid = f.has("pasid") ? r.int(f.get("pasid")!.value, "pasid", 0, 0xfffff) : undefined;
      const flag = (k: string, dflt: boolean) => (f.has(k) ? r.bool(f.get(k)!.value, k) ?? dflt : dflt);
      const write = flag("write", false);
      const pages = f.has("pages") ? r.int(f.get("pages")!.value, "pages", 1, 4096) ?? 1 : 1;
      const prgi = f.has("prgi") ? r.int(f.get("prgi")!.value, "prgi", 0, 511) : undefined;
      // VT-d 3.x private data: qw2 of each request's descriptor (PDP set); needs host.iommu.prq-private-data.
      const privateData = f.has("private-data") ? r.addr(f.get("private-data")!.value, "private-data") : undefined;
      if (device === undefined || address === undefined || (f.has("private-data") && privateData === undefined)) return undefined;
      return withExpect({ ...base, op, device, address, ...(pasid !== undefined ? { pasid } : {}), write, read: flag("read", !write), exec: flag("exec", false), privileged: flag("privileged", false), pages, last: flag("last", true), ...(prgi !== undefined ? { prgi } : {}), ...(privateData !== undefined ? { privateData } : {}) });
    }
    case "unbind-pasid": {
      const f = fields(["device", "pasid"]);
      if (!f) return undefined;
      const device = bdfReq(r, f, "device", op, item);
      const pNode = r.required(f, "pasid", "the unbind-pasid step", item);
      const pasid = pNode === undefined ? undefined : r.int(pNode, "pasid", 0, 0xfffff);
      if (device === undefined || pasid === undefined) return undefined;
      return withExpect({ ...base, op, device, pasid });
    }
    case "munmap": {
      // SMMUv3 SVA: the bound process unmaps part of its address space (validate.ts: smmuv3, a PASID device).
      const f = fields(["device", "pasid", "va", "size"]);
      if (!f) return undefined;
      const device = bdfReq(r, f, "device", op, item);
      const pNode = r.required(f, "pasid", "the munmap step", item);
      const pasid = pNode === undefined ? undefined : r.int(pNode, "pasid", 0, 0xfffff);
      const va = addrReq(r, f, "va", op, item);
      const size = sizeReq(r, f, "size", op, item);
      if (device === undefined || pasid === undefined || va === undefined || size === undefined) return undefined;
      if (va % 4096n !== 0n || size % 4096n !== 0n || size === 0n) {
        r.error(f.get(va % 4096n !== 0n ? "va" : "size")!.value, "invalid-value", l10n.t("munmap takes whole 4 KiB pages: va and size must be multiples of 4KiB, size above 0"), l10n.t("munmap(2) fails with EINVAL for an unaligned address; give e.g. va: 0x7f12_3456_0000, size: 4KiB."));
        return undefined;
      }
      return withExpect({ ...base, op, device, pasid, va, size });
    }
    case "emulated-dma": {
      // A device QEMU emulates in the VM (virtio-net, e1000e, ...) at guest BDF `bdf`, its DMA through the VM's virtio-iommu (validate.ts).
      const f = fields(["vm", "bdf", "iova", "length", "write", "endpoint"]);
      if (!f) return undefined;
      const vm = strReq(r, f, "vm", op, item);
      const bdfNode = r.required(f, "bdf", "the emulated-dma step", item);
      const bdf = bdfNode === undefined ? undefined : r.str(bdfNode, "bdf");
      const iova = addrReq(r, f, "iova", op, item);
      const length = f.has("length") ? sizeReq(r, f, "length", op, item) : 4096n;
      const write = f.has("write") ? r.bool(f.get("write")!.value, "write") : false;
      const endpoint = f.has("endpoint") ? r.enumOf(f.get("endpoint")!.value, "endpoint", ["attached", "detached", "unknown"] as const) : "attached";
      if (bdf !== undefined && !/^[0-9a-fA-F]{1,2}:[0-1]?[0-9a-fA-F]\.[0-7]$/.test(bdf)) {
        r.error(bdfNode, "invalid-value", l10n.t("bdf is the emulated device's guest PCI address, BB:DD.F"), l10n.t("Give e.g. bdf: \"00:02.0\" (the guest's bus, device and function of the virtio-net or e1000e QEMU emulates)."));
        return undefined;
      }
      if (vm === undefined || bdf === undefined || iova === undefined || length === undefined || write === undefined || endpoint === undefined) return undefined;
      if (length === 0n) {
        r.error(f.get("length")!.value, "invalid-value", l10n.t("length must be above 0"), l10n.t("Give the bytes the device reads or writes, e.g. length: 4KiB."));
        return undefined;
      }
      return withExpect({ ...base, op, vm, bdf, iova, length, write, endpoint });
    }
    case "process-exit": {
      // SMMUv3 SVA: the process bound to the PASID exits (validate.ts: smmuv3, a PASID device); the mmu notifier's release.
      const f = fields(["device", "pasid"]);
      if (!f) return undefined;
      const device = bdfReq(r, f, "device", op, item);
      const pNode = r.required(f, "pasid", "the process-exit step", item);
      const pasid = pNode === undefined ? undefined : r.int(pNode, "pasid", 0, 0xfffff);
      if (device === undefined || pasid === undefined) return undefined;
      return withExpect({ ...base, op, device, pasid });
    }
    case "translate": {
      const f = fields(["device", "iova", "write", "pasid"]);
      if (!f) return undefined;
      const device = bdfReq(r, f, "device", op, item);
      const iova = addrReq(r, f, "iova", op, item);
      const write = f.has("write") ? r.bool(f.get("write")!.value, "write") ?? false : false;
      // Scalable mode: a request with PASID (20 bits, PCIe PASID TLP prefix); validate.ts checks the unit takes it.
      const pasid = f.has("pasid") ? r.int(f.get("pasid")!.value, "pasid", 0, 0xfffff) : undefined;
      if (device === undefined || iova === undefined || (f.has("pasid") && pasid === undefined)) return undefined;
      if (!expect) r.report("info", item, "translate-without-expect", l10n.t("a translate step without expect only shows its answer"), l10n.t("Add expect: { hpa: ..., } or { fault: ... } to make it a check."));
      return withExpect({ ...base, op, device, iova, write, ...(pasid !== undefined ? { pasid } : {}) });
    }
    case "iommufd": {
      const spec = parseIommufdStep(r, body, item);
      return spec === undefined ? undefined : withExpect({ ...base, op, ...spec });
    }
    case "irte":
    case "msi": {
      const spec = op === "irte" ? parseIrteStep(r, fields(["device", "index", "present", "vector", "destination", "posted", "urgent", "fpd", "svt", "sq", "invalidate", "running", "preempted", "ga-tag", "vcpu", "vm-id"]), item) : parseMsiStep(r, fields(["device", "format", "index", "subhandle", "data", "destination", "count"]), item);
      return spec === undefined ? undefined : withExpect({ ...base, op, ...spec } as Step);
    }
    case "posted-descriptor": {
      const spec = parsePostedDescriptorStep(r, fields(["address", "vcpu", "cpu", "sync"]), item);
      return spec === undefined ? undefined : withExpect({ ...base, op, ...spec });
    }
    case "invalidate": {
      const f = fields(["granularity", "domain", "device", "iova", "am", "ih", "pasid", "index"]);
      if (!f) return undefined;
      const gNode = r.required(f, "granularity", "the invalidate step", item);
      const granularity = gNode === undefined ? undefined : r.enumOf(gNode, "granularity", GRANULARITIES);
      if (granularity === undefined) return undefined;
      const s: Extract<Step, { op: "invalidate" }> = { ...base, op, granularity };
      if (f.has("domain")) s.domain = r.int(f.get("domain")!.value, "domain", 0, 65535);
      else if (granularity === "domain" || granularity === "page" || granularity === "context-domain" || granularity.startsWith("pasid")) r.error(item, "missing-key", l10n.t("a {0} invalidation needs \"domain\"", granularity), l10n.t("Give the domain id (DID) shown in the Mapping Tables view."));
      if (f.has("device")) s.device = r.bdf(f.get("device")!.value, "device")?.key;
      else if (granularity === "context-device" || granularity === "device-tlb") r.error(item, "missing-key", l10n.t("a {0} invalidation needs \"device\"", granularity), l10n.t("Add device: \"01:00.0\"."));
      if (f.has("iova")) s.iova = r.addr(f.get("iova")!.value, "iova");
      else if (granularity === "page" || granularity === "pasid-page") r.error(item, "missing-key", l10n.t("a page invalidation needs \"iova\""), l10n.t("Add the IOVA of the first page."));
      if (f.has("index")) s.entry = r.int(f.get("index")!.value, "index", 0, 65535);
      else if (granularity === "interrupt-entry") r.error(item, "missing-key", l10n.t("an interrupt-entry invalidation needs \"index\""), l10n.t("Add index: N, the IRTE whose cached copy is dropped."));
      if (f.has("am")) s.am = r.int(f.get("am")!.value, "am", 0, 63);
      if (f.has("ih")) s.ih = r.bool(f.get("ih")!.value, "ih");
      if (f.has("pasid")) s.pasid = r.int(f.get("pasid")!.value, "pasid", 0, 0xfffff);
      else if (granularity === "pasid" || granularity === "pasid-page") r.error(item, "missing-key", l10n.t("a {0} invalidation needs \"pasid\"", granularity), l10n.t("Give the PASID whose translations to invalidate."));
      return withExpect(s);
    }
    case "poke": {
      const f = fields(["address", "target", "register", "unit", "value", "set", "clear", "vm", "gpa"]);
      if (!f) return undefined;
      const where = ["address", "target", "register", "gpa"].filter((k) => f.has(k));
      if (where.length !== 1) {
        r.error(item, "poke-target", l10n.t("a poke needs exactly one of address, target, register or gpa"), l10n.t("address: 0x... writes a host physical address; target: { device, structure } finds a table entry; register: RTADDR writes the root table address; vm and gpa: a word of a VM's RAM (what its guest kernel wrote)."));
        return undefined;
      }
      if (f.has("gpa") !== f.has("vm")) {
        r.error(f.get("gpa")?.key ?? f.get("vm")!.key, "poke-target", l10n.t("a poke of guest memory needs both vm and gpa"), l10n.t("Give vm: NAME and gpa: 0x... (a guest-physical address in that VM's RAM)."));
        return undefined;
      }
      // value: the new 64-bit word; set/clear: a read-modify-write of the current one.
      if (f.has("value") === (f.has("set") || f.has("clear"))) {
        r.error(
          f.get("value")?.key ?? f.get("set")?.key ?? f.get("clear")?.key ?? item,
          "poke-value",
          f.has("value") ? l10n.t("a poke has either value or set/clear, not both") : l10n.t("a poke needs value, or set and/or clear"),
          l10n.t("value: 0x... writes the whole 64-bit word; set: 0x2 / clear: 0x2 set or clear those bits of the current value."),
        );
        return undefined;
      }
      const rmw: { value?: bigint; set?: bigint; clear?: bigint } = {};
      for (const k of ["value", "set", "clear"] as const) {
        if (!f.has(k)) continue;
        const v = r.addr(f.get(k)!.value, k);
        if (v === undefined) return undefined;
        rmw[k] = v;
      }
      if (f.has("unit") && !f.has("register")) r.error(f.get("unit")!.key, "poke-target", l10n.t("a poke's unit names whose register it writes"), l10n.t("Give unit with register (register: RTADDR, unit: dmar1); an address or a target needs none."));
      if (f.has("address")) {
        const address = r.addr(f.get("address")!.value, "address");
        return address === undefined ? undefined : withExpect({ ...base, op, address, ...rmw });
      }
      if (f.has("gpa")) {
        const gpa = r.addr(f.get("gpa")!.value, "gpa");
        const vm = r.str(f.get("vm")!.value, "vm");
        if (gpa !== undefined && gpa % 8n !== 0n) r.error(f.get("gpa")!.value, "invalid-value", l10n.t("a poke writes an aligned 64-bit word: gpa must be a multiple of 8"), l10n.t("Round gpa down to a multiple of 8."));
        return gpa === undefined || vm === undefined || gpa % 8n !== 0n ? undefined : withExpect({ ...base, op, vm, gpa, ...rmw });
      }
      if (f.has("register")) {
        const register = r.enumOf(f.get("register")!.value, "register", POKE_REGISTERS);
        const unit = f.has("unit") ? r.str(f.get("unit")!.value, "unit") : undefined;
        return register === undefined ? undefined : withExpect({ ...base, op, register, ...(unit !== undefined ? { unit } : {}), ...rmw });
      }
      const t = r.fields(f.get("target")!.value, ["device", "structure", "iova", "level", "pasid", "word"], "target");
      if (!t) return undefined;
      const device = bdfReq(r, t, "device", "poke target", item);
      const sNode = r.required(t, "structure", "the poke target", item);
      const structure = sNode === undefined ? undefined : r.enumOf(sNode, "structure", POKE_STRUCTURES);
      if (device === undefined || structure === undefined) return undefined;
      const target: NonNullable<Extract<Step, { op: "poke" }>["target"]> = { device, structure };
      if (t.has("iova")) target.iova = r.addr(t.get("iova")!.value, "iova");
      else if (structure === "pte") r.error(item, "missing-key", l10n.t("a pte target needs \"iova\""), l10n.t("Give the IOVA whose page-table entry to overwrite."));
      if (t.has("level")) target.level = r.int(t.get("level")!.value, "level", 1, 5);
      for (const k of ["pasid", "word"] as const) {
        if (!t.has(k)) continue;
        if (structure !== "pasid-entry") r.error(t.get(k)!.key, "invalid-value", l10n.t("\"{0}\" belongs to a pasid-entry target", k), l10n.t("pasid: and word: name a PASID table entry and one of its 64-bit words (structure: pasid-entry)."));
        else target[k] = r.int(t.get(k)!.value, k, 0, k === "pasid" ? 0xfffff : 7);
      }
      return withExpect({ ...base, op, target, ...rmw });
    }
  }
}

/** `bind-pasid: { device, pasid, mode, vm, supervisor, wpe, maps: [ { va, size, perm, user, hpa | gpa } ] }` (docs/scalable-mode.md). */
function parseBindPasid(r: Reader, body: Node | null, item: Node, base: { index: number; range: SourceRange }, withExpect: <T extends object>(s: T) => T): Step | undefined {
  const op = "bind-pasid" as const;
  const f = r.fields(body, ["device", "pasid", "mode", "vm", "supervisor", "wpe", "sva", "maps", "dirty-tracking"], "the bind-pasid step");
  if (!f) return undefined;
  const device = bdfReq(r, f, "device", op, item);
  const pNode = r.required(f, "pasid", "the bind-pasid step", item);
  const pasid = pNode === undefined ? undefined : r.int(pNode, "pasid", 0, 0xfffff);
  const mode = f.has("mode") ? r.enumOf(f.get("mode")!.value, "mode", PASID_MODES) : "first-level";
  const guestVm = f.has("vm") ? r.str(f.get("vm")!.value, "vm") : undefined;
  const supervisor = f.has("supervisor") ? r.bool(f.get("supervisor")!.value, "supervisor") ?? false : false;
  const wpe = f.has("wpe") ? r.bool(f.get("wpe")!.value, "wpe") ?? false : false;
  const sva = f.has("sva") ? r.bool(f.get("sva")!.value, "sva") ?? false : false;
  const dirtyTracking = f.has("dirty-tracking") ? r.bool(f.get("dirty-tracking")!.value, "dirty-tracking") ?? false : false;
  if (device === undefined || pasid === undefined || mode === undefined) return undefined;
  if (dirtyTracking && mode !== "second-level" && mode !== "nested") {
    // Linux intel_pasid_setup_dirty_tracking: "Dirty tracking not supported on translation type %d" (-EOPNOTSUPP).
    r.error(f.get("dirty-tracking")!.key, "invalid-value", l10n.t("Dirty tracking not supported on translation type {0}", mode), l10n.t("SLADE tracks second-level writes: bind in mode second-level or nested, or drop dirty-tracking."));
    return undefined;
  }
  if (sva && mode !== "first-level") {
    r.error(f.get("sva")!.key, "invalid-value", l10n.t("sva: true shares a process's page table: mode {0} does not fit it", mode), l10n.t("Drop mode: (an SVA PASID translates through the process's stage-1 table)."));
    return undefined;
  }
  if (mode === "nested" && guestVm === undefined) {
    r.error(item, "missing-key", l10n.t("a nested bind needs \"vm\": the VM whose guest-physical memory the first-level tables live in"), l10n.t("Add vm: <name> (the second level maps that VM's RAM, IOVA = GPA)."));
    return undefined;
  }
  const maps: PasidMapSpec[] = [];
  const mNode = f.get("maps")?.value ?? null;
  if (mNode !== null) {
    if (!isSeq(mNode)) {
      r.error(mNode, "expected-list", l10n.t("maps must be a list"), l10n.t("- { va: 0x7f0000000000, size: 64KiB, perm: rw } per mapping."));
      return undefined;
    }
    for (const alias of mNode.items as Node[]) {
      const it = r.deref(alias) ?? alias;
      const m = r.fields(it, ["va", "size", "perm", "user", "hpa", "gpa", "accessed", "present"], "a PASID mapping");
      if (!m) return undefined;
      const va = addrReq(r, m, "va", "PASID mapping", it);
      const size = m.has("size") ? r.size(m.get("size")!.value, "size") : 4096n;
      const perm = m.has("perm") ? r.parsed(m.get("perm")!.value, "perm", "invalid-value", parsePerm) : "rw";
      const user = m.has("user") ? r.bool(m.get("user")!.value, "user") ?? true : true;
      const accessed = m.has("accessed") ? r.bool(m.get("accessed")!.value, "accessed") ?? true : true;
      const present = m.has("present") ? r.bool(m.get("present")!.value, "present") ?? true : true;
      const hpa = m.has("hpa") ? r.addr(m.get("hpa")!.value, "hpa") : undefined;
      const gpa = m.has("gpa") ? r.addr(m.get("gpa")!.value, "gpa") : undefined;
      if (va === undefined || size === undefined || perm === undefined) return undefined;
      if ((va | size | (hpa ?? 0n) | (gpa ?? 0n)) & 0xfffn || size === 0n || size > 1n << 30n) {
        r.error(it, "map-unaligned", l10n.t("a PASID mapping needs 4 KiB-aligned va, size, hpa and gpa, and a size of at most 1GiB"), l10n.t("First-level tables map whole 4 KiB pages."));
        return undefined;
      }
      if (mode === "nested" && gpa === undefined) {
        r.error(it, "missing-key", l10n.t("a nested mapping needs \"gpa\": the guest-physical page the guest's first-level tables point at"), l10n.t("Add gpa: 0x... inside the VM's RAM."));
        return undefined;
      }
      if (!present && mode !== "first-level") {
        r.error(m.get("present")!.key, "invalid-value", l10n.t("present: false needs a first-level bind (a process address space that page requests fill in)"), l10n.t("Drop present: false, or bind with mode: first-level."));
        return undefined;
      }
      maps.push({ va, size, perm, user, ...(accessed ? {} : { accessed }), ...(present ? {} : { present }), ...(hpa !== undefined ? { hpa } : {}), ...(gpa !== undefined ? { gpa } : {}), range: r.range(it) });
    }
  }
  return withExpect({ ...base, op, device, pasid, mode, ...(guestVm !== undefined ? { guestVm } : {}), supervisor, wpe, maps, ...(sva ? { sva } : {}), ...(dirtyTracking ? { dirtyTracking } : {}) });
}

/** Transactions one `dma` step may simulate (its trace events). */
const MAX_DMA_TRANSACTIONS = 50_000_000;
/** Transfers in one `dma` list (fault recording has at most 256 registers). */
const MAX_DMA_TRANSFERS = 256;

/** A mapping's value node for `key`, when the node is a mapping that has it. */
function valueOf(node: Node | null, key: string): Node | null | undefined {
  if (!isMap(node)) return undefined;
  for (const p of node.items as Pair<Node, Node | null>[]) if (isScalar(p.key) && p.key.value === key) return p.value ?? null;
  return undefined;
}

/** One device's transfer of a `dma` step: its keys, as a single-device step has always read them. */
/**
 * A `dma` step of one transfer (`dma: { device, iova, ... }`), without its `expect`. parseStep
 * comes here first for an item that holds nothing else, the shape of scenarios of thousands of
 * steps: a small function V8 optimizes after a few steps, where parseStep (every operation's
 * rules) stayed in its baseline tier for 4 000 of them (docs/performance-cli.md).
 */
function singleDmaStep(r: Reader, body: Node, item: Node, index: number, at: Node, range: SourceRange = r.range(at)): Extract<Step, { op: "dma" }> | undefined {
  const t = dmaTransferSpec(r, body, item, range);
  if (t === undefined) return undefined;
  if (t.pages * t.spec.repeat > MAX_DMA_TRANSACTIONS) {
    r.error(valueOf(body, "repeat") ?? item, "dma-too-large", l10n.t("this step would simulate {0} transactions; the limit is {1}", t.pages * t.spec.repeat, MAX_DMA_TRANSACTIONS), l10n.t("Lower repeat or length: a few million transactions already make a large trace."));
    return undefined;
  }
  return dmaStep(index, range, t.spec);
}

/** A single-transfer `dma` step: the keys in the order parseStep's `{ ...base, op, ...spec }` gave them (spec.range is `range`). */
function dmaStep(index: number, range: SourceRange, spec: DmaTransferSpec): Extract<Step, { op: "dma" }> {
  return Object.assign({ index, range, op: "dma" as const }, spec);
}

const DMA_KEYS = ["device", "iova", "length", "write", "direction", "repeat", "pasid", "ats", "translated"];
/** The values of a transfer's keys once read, before the rules across keys (dmaRefused). */
interface DmaValues {
  device: string;
  iova: bigint;
  length: bigint;
  write: boolean;
  repeat: number;
  pasid: number | undefined;
  ats: boolean | undefined;
  translated: boolean | undefined;
}
/** A transfer's length and repeat when their keys are left out. */
const DMA_DEFAULT_LENGTH = 4096n;
const DMA_DEFAULT_REPEAT = 1;
/** The range of `repeat`, and of `pasid` (20 bits: PCIe's PASID TLP prefix). */
const DMA_REPEAT_MAX = 10_000_000;
const DMA_PASID_MAX = 0xfffff;
/** Which rule across a transfer's keys it breaks, if any: its length, a PASID on a Translated Request (dmaTransferSpec reports each). */
function dmaRefused(v: DmaValues): "length" | "translated-pasid" | undefined {
  if (v.length === 0n || v.length > 1n << 30n) return "length";
  // PCIe: a Translated Request has no PASID prefix; QEMU's vtd_iommu_translate refuses one
  // ("translated request with PASID not allowed"). The device's Device-TLB is PASID-tagged, its use is not.
  if (v.translated === true && v.pasid !== undefined) return "translated-pasid";
  return undefined;
}
/** The spec of a transfer dmaRefused let through, with the 4 KiB pages it touches per repetition. */
function dmaTransfer(v: DmaValues, range: SourceRange): { spec: DmaTransferSpec; pages: number } {
  const { device, iova, length, write, repeat, pasid, ats, translated } = v;
  const pages = (Number(iova & 0xfffn) + Number(length) + 4095) >> 12;
  return { spec: { device, iova, length, write, repeat, ...(pasid !== undefined ? { pasid } : {}), ...(ats === true ? { ats } : {}), ...(translated ? { translated } : {}), range }, pages };
}

/**
 * The Step of a dma item read as FlatDma, when the node path (singleDmaStep) would read it without
 * a diagnostic: every key known and there once, every value valid, no rule across keys broken.
 * Undefined otherwise: the node path then reads the item and reports. Values as Reader reads them:
 * the raw text through the same value parsers, booleans and enums from the resolved scalar.
 */
function flatDmaStep(f: FlatDma, range: SourceRange, ticker: Ticker): Extract<Step, { op: "dma" }> | undefined {
  let device: string | undefined;
  let iova: bigint | undefined;
  let length = DMA_DEFAULT_LENGTH;
  let write = false;
  let direction: boolean | undefined;
  let repeat = DMA_DEFAULT_REPEAT;
  let pasid: number | undefined;
  let ats: boolean | undefined;
  let translated: boolean | undefined;
  let seen = 0;
  for (let i = 0; i < f.n; i++) {
    ticker.tick();
    const key = f.keys[i]!;
    const k = DMA_KEYS.indexOf(key);
    if (k < 0 || (seen & (1 << k)) !== 0) return undefined; // unknown, or twice
    seen |= 1 << k;
    const v = f.values[i];
    const raw = f.raws[i]!;
    if (v === null) return undefined; // Reader.raw: no value
    if (key === "device") {
      const p = parseBdf(raw);
      if (!p.ok) return undefined;
      device = p.value.key;
    } else if (key === "iova" || key === "repeat" || key === "pasid") {
      const p = parseAddress(raw);
      if (!p.ok) return undefined;
      if (key === "iova") iova = p.value;
      else if (key === "repeat") {
        if (p.value < 1n || p.value > BigInt(DMA_REPEAT_MAX)) return undefined;
        repeat = Number(p.value);
      } else {
        if (p.value > BigInt(DMA_PASID_MAX)) return undefined;
        pasid = Number(p.value);
      }
    } else if (key === "length") {
      const p = parseSize(raw);
      if (!p.ok) return undefined;
      length = p.value;
    } else if (key === "direction") {
      if (v !== "read" && v !== "write") return undefined;
      direction = v === "write";
    } else {
      // write, ats, translated
      if (typeof v !== "boolean") return undefined;
      if (key === "write") write = v;
      else if (key === "ats") ats = v;
      else translated = v;
    }
  }
  if (device === undefined || iova === undefined) return undefined;
  if (direction !== undefined) write = direction;
  const values = { device, iova, length, write, repeat, pasid, ats, translated };
  if (dmaRefused(values) !== undefined) return undefined;
  const t = dmaTransfer(values, range);
  if (t.pages * t.spec.repeat > MAX_DMA_TRANSACTIONS) return undefined;
  return dmaStep(0, range, t.spec);
}

function dmaTransferSpec(r: Reader, body: Node | null, item: Node, range: SourceRange): { spec: DmaTransferSpec; pages: number } | undefined {
  const op = "dma";
  const f = r.fields(body, DMA_KEYS, `the ${op} step`);
  if (!f) return undefined;
  const device = bdfReq(r, f, "device", op, item);
  const iova = addrReq(r, f, "iova", op, item);
  const length = f.has("length") ? r.size(f.get("length")!.value, "length") : DMA_DEFAULT_LENGTH;
  let write = f.has("write") ? r.bool(f.get("write")!.value, "write") : false;
  if (f.has("direction")) write = r.enumOf(f.get("direction")!.value, "direction", ["read", "write"] as const) === "write";
  const repeat = f.has("repeat") ? r.int(f.get("repeat")!.value, "repeat", 1, DMA_REPEAT_MAX) : DMA_DEFAULT_REPEAT;
  const pasid = f.has("pasid") ? r.int(f.get("pasid")!.value, "pasid", 0, DMA_PASID_MAX) : undefined;
  const ats = f.has("ats") ? r.bool(f.get("ats")!.value, "ats") : undefined;
  const translated = f.has("translated") ? r.bool(f.get("translated")!.value, "translated") : undefined;
  if (device === undefined || iova === undefined || length === undefined || write === undefined || repeat === undefined) return undefined;
  const values = { device, iova, length, write, repeat, pasid, ats, translated };
  const refused = dmaRefused(values);
  if (refused === "length") {
    r.error(f.get("length")?.value, "dma-length", l10n.t("a DMA length must be between 1 byte and 1GiB"), l10n.t("Split larger transfers into several steps or use repeat."));
    return undefined;
  }
  if (refused === "translated-pasid") {
    r.error(f.get("pasid")!.key, "invalid-value", l10n.t("a Translated Request carries no PASID"), l10n.t("Drop pasid: (the Device-TLB entry a PASID's Translation Request filled is used by requests with that PASID), or translated: true."));
    return undefined;
  }
  return dmaTransfer(values, range);
}

function parseExpect(r: Reader, node: Node | null): Expectation | undefined {
  const range = r.range(node);
  if (isScalar(node) && String(node.value) === "ok") return { ok: true, range };
  const f = r.fields(node, ["ok", "fault", "errno", "error", "hpa", "iotlb", "faults", "recorded", "pasid", "notification", "device-iotlb-invalidations", "dirty"], "expect");
  if (!f) return undefined;
  const e: Expectation = { range };
  if (f.has("ok")) e.ok = r.bool(f.get("ok")!.value, "expect.ok");
  if (f.has("fault")) e.fault = r.int(f.get("fault")!.value, "expect.fault", 0, 255);
  if (f.has("errno")) e.errno = r.enumOf(f.get("errno")!.value, "expect.errno", ERRNOS);
  if (f.has("error")) e.error = r.str(f.get("error")!.value, "expect.error");
  if (f.has("hpa")) e.hpa = r.addr(f.get("hpa")!.value, "expect.hpa");
  if (f.has("iotlb")) e.iotlb = r.enumOf(f.get("iotlb")!.value, "expect.iotlb", ["hit", "miss", "device-tlb"] as const);
  if (f.has("faults")) e.faults = r.int(f.get("faults")!.value, "expect.faults", 0, 2 ** 31 - 1);
  if (f.has("recorded")) e.recorded = r.bool(f.get("recorded")!.value, "expect.recorded");
  if (f.has("notification")) e.notification = r.bool(f.get("notification")!.value, "expect.notification");
  if (f.has("device-iotlb-invalidations")) e.deviceIotlbInvalidations = r.int(f.get("device-iotlb-invalidations")!.value, "expect.device-iotlb-invalidations", 0, 2 ** 31 - 1);
  if (f.has("dirty")) {
    // IOMMU_HWPT_GET_DIRTY_BITMAP: the IOVAs of the pages the bitmap marks, in order.
    const dn = r.deref(f.get("dirty")!.value);
    if (!isSeq(dn)) r.error(dn, "expected-list", l10n.t("expect.dirty must be a list of IOVAs"), l10n.t("For example dirty: [0x1000_0000], or [] for a clean range."));
    else e.dirty = (dn.items as Node[]).map((it) => r.addr(r.deref(it) ?? it, "a dirty IOVA")).filter((v): v is bigint => v !== undefined);
  }
  if (f.has("pasid")) {
    // A PASID (0..0xfffff), or `none`: the request carried no PASID.
    const pn = r.deref(f.get("pasid")!.value);
    e.pasid = isScalar(pn) && String(pn.value) === "none" ? -1 : r.int(pn, "expect.pasid", 0, 0xfffff);
  }
  for (const k of Object.keys(e) as (keyof Expectation)[]) if (e[k] === undefined) delete e[k];
  return e;
}

// ---- interrupt remapping steps (docs/interrupt-remapping-and-reserved-regions.md)

/** `irte: { device, index, vector, destination, present, posted, urgent, fpd, svt, sq, invalidate }`, and AMD-Vi's guest virtual APIC fields (running, preempted, ga-tag, vcpu, vm-id). */
function parseIrteStep(r: Reader, f: Fields | undefined, item: Node): IrteStepSpec | undefined {
  if (!f) return undefined;
  const device = bdfReq(r, f, "device", "irte", item);
  const idx = r.required(f, "index", "the irte step", item);
  const index = idx === undefined ? undefined : r.int(idx, "index", 0, 65535);
  const present = f.has("present") ? r.bool(f.get("present")!.value, "present") ?? true : true;
  const vector = f.has("vector") ? r.int(f.get("vector")!.value, "vector", 0, 255) : present ? undefined : 0;
  if (vector === undefined && present && !f.has("vector")) r.error(item, "missing-key", l10n.t("the irte step needs \"vector\""), l10n.t("Add vector: 0x41 (the host vector the interrupt is delivered on), or present: false to clear the entry."));
  const destination = f.has("destination") ? r.int(f.get("destination")!.value, "destination", 0, 0xffffffff) : 0;
  const posted = f.has("posted") ? r.addr(f.get("posted")!.value, "posted") : undefined;
  if (posted !== undefined && posted % 64n !== 0n) r.error(f.get("posted")!.value, "invalid-value", l10n.t("the posted-interrupt descriptor address must be 64-byte aligned"), l10n.t("VT-d 9.11: PDA holds address bits 63:6."));
  const svt = f.has("svt") ? r.enumOf(f.get("svt")!.value, "svt", ["requester", "bus", "none"] as const) : undefined;
  const sq = f.has("sq") ? r.int(f.get("sq")!.value, "sq", 0, 3) ?? 0 : 0;
  const b = (k: string, d: boolean) => (f.has(k) ? r.bool(f.get(k)!.value, k) ?? d : d);
  // AMD-Vi guest virtual APIC fields (IsRun, GATag or the vCPU KVM tags it with) belong to a posted (GuestMode) IRTE.
  for (const k of ["running", "preempted", "ga-tag", "vcpu", "vm-id"]) if (f.has(k) && posted === undefined) r.error(f.get(k)!.key, "invalid-value", l10n.t("\"{0}\" is a field of an AMD-Vi guest virtual APIC IRTE: it needs \"posted\"", k), l10n.t("Add posted: ADDR (the vCPU's vAPIC backing page) on a model: amd-vi host, or remove {0}.", k));
  const running = f.has("running") ? r.bool(f.get("running")!.value, "running") : undefined;
  const preempted = f.has("preempted") ? r.bool(f.get("preempted")!.value, "preempted") : undefined;
  if (preempted === true && running !== false && posted !== undefined) r.error(f.get("preempted")!.key, "invalid-value", l10n.t("\"preempted\" describes a vCPU that is not running"), l10n.t("Add running: false (KVM put the vCPU: preempted, or without preempted: blocked), or remove preempted."));
  const gaTag = f.has("ga-tag") ? r.int(f.get("ga-tag")!.value, "ga-tag", 0, 0xffffffff) : undefined;
  // vcpu / vm-id: the GATag as KVM builds it (AVIC_GATAG in the host kernel's layout, sim/amdvi/avic.ts).
  const vcpu = f.has("vcpu") ? r.int(f.get("vcpu")!.value, "vcpu", 0, 4095) : undefined;
  const vmId = f.has("vm-id") ? r.int(f.get("vm-id")!.value, "vm-id", 1, 0xffffff) : undefined;
  if (f.has("ga-tag") && f.has("vcpu")) r.error(f.get("vcpu")!.key, "invalid-value", l10n.t("\"ga-tag\" and \"vcpu\" both set the GATag"), l10n.t("Keep ga-tag (the tag as written) or vcpu (and vm-id): KVM's AVIC_GATAG(vm-id, vcpu) in the host kernel's layout."));
  if (f.has("vm-id") && !f.has("vcpu")) r.error(f.get("vm-id")!.key, "invalid-value", l10n.t("\"vm-id\" needs \"vcpu\""), l10n.t("Add vcpu: N (the vCPU the interrupt is posted to): the GATag is KVM's AVIC_GATAG(vm-id, vcpu)."));
  if (device === undefined || index === undefined || vector === undefined || destination === undefined) return undefined;
  return { device, entry: index, present, vector, destination, ...(posted !== undefined ? { posted } : {}), urgent: b("urgent", false), fpd: b("fpd", false), ...(svt !== undefined ? { svt } : {}), sq, invalidate: b("invalidate", true), ...(running !== undefined ? { running } : {}), ...(preempted !== undefined ? { preempted } : {}), ...(gaTag !== undefined ? { gaTag } : {}), ...(vcpu !== undefined ? { vcpu } : {}), ...(vmId !== undefined ? { vmId } : {}) };
}

/** `posted-descriptor: { address, vcpu, cpu, sync }` (types.ts PostedDescriptorStepSpec). */
function parsePostedDescriptorStep(r: Reader, f: Fields | undefined, item: Node): PostedDescriptorStepSpec | undefined {
  if (!f) return undefined;
  const a = r.required(f, "address", "the posted-descriptor step", item);
  const address = a === undefined ? undefined : r.addr(a, "address");
  if (address !== undefined && address % 64n !== 0n) r.error(a, "invalid-value", l10n.t("the posted-interrupt descriptor address must be 64-byte aligned"), l10n.t("VT-d 9.12: the descriptor is 64 bytes, 64-byte aligned (the IRTE's PDA holds address bits 63:6)."));
  const vcpu = f.has("vcpu") ? r.enumOf(f.get("vcpu")!.value, "vcpu", ["running", "blocked", "preempted"] as const) : "running";
  const cpu = f.has("cpu") ? r.int(f.get("cpu")!.value, "cpu", 0, 0xffffffff) : 0;
  const sync = f.has("sync") ? r.bool(f.get("sync")!.value, "sync") ?? false : false;
  if (address === undefined || vcpu === undefined || cpu === undefined) return undefined;
  return { address, vcpu, cpu, sync };
}

/** `msi: { device, index, subhandle, data, format, destination }`. */
function parseMsiStep(r: Reader, f: Fields | undefined, item: Node): MsiStepSpec | undefined {
  if (!f) return undefined;
  const device = bdfReq(r, f, "device", "msi", item);
  const format = f.has("format") ? r.enumOf(f.get("format")!.value, "format", ["remappable", "compatibility"] as const) : "remappable";
  const index = f.has("index") ? r.int(f.get("index")!.value, "index", 0, 65535) : 0;
  if (format === "remappable" && !f.has("index")) r.error(item, "missing-key", l10n.t("a remappable-format msi needs \"index\""), l10n.t("Add index: N, the interrupt handle the device was programmed with (format: compatibility for an old-style MSI)."));
  const subhandle = f.has("subhandle") ? r.int(f.get("subhandle")!.value, "subhandle", 0, 65535) : undefined;
  const data = f.has("data") ? r.int(f.get("data")!.value, "data", 0, 0xffffffff) : undefined;
  const destination = f.has("destination") ? r.int(f.get("destination")!.value, "destination", 0, 255) ?? 0 : 0;
  // Back-to-back MSIs (the host's interrupt threads run once, after the last): at most 65536.
  const count = f.has("count") ? r.int(f.get("count")!.value, "count", 1, 65536) : undefined;
  if (device === undefined || format === undefined || index === undefined) return undefined;
  return { device, format, handle: index, ...(subhandle !== undefined ? { subhandle } : {}), ...(data !== undefined ? { data } : {}), destination, ...(count !== undefined ? { count } : {}) };
}

/** The keys each iommufd ioctl takes, besides vm and ioctl (sim/iommufdObjects.ts has the rules). */
const IOMMUFD_FIELDS: Record<(typeof IOMMUFD_IOCTLS)[number], readonly string[]> = {
  IOMMU_IOAS_ALLOC: [],
  IOMMU_IOAS_MAP: ["ioas", "iova", "gpa", "length"],
  IOMMU_IOAS_UNMAP: ["ioas", "iova", "length"],
  IOMMU_IOAS_COPY: ["src-ioas", "src-iova", "ioas", "iova", "length"],
  IOMMU_HWPT_ALLOC: ["device", "pt", "fault", "dirty-tracking", "nest-parent", "vste"],
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: ["device", "pt"],
  IOMMU_DESTROY: ["id"],
  IOMMU_FAULT_QUEUE_ALLOC: [],
  IOMMU_HWPT_PAGE_RESPONSE: ["fault", "cookie", "code"],
  IOMMU_HWPT_SET_DIRTY_TRACKING: ["id", "enable"],
  IOMMU_HWPT_GET_DIRTY_BITMAP: ["id", "iova", "length"],
  IOMMU_VIOMMU_ALLOC: ["device", "pt"],
  IOMMU_VDEVICE_ALLOC: ["viommu", "device", "virt-id"],
  IOMMU_VEVENTQ_ALLOC: ["viommu", "depth"],
  IOMMU_VEVENTQ_READ: ["veventq"],
  IOMMU_HWPT_INVALIDATE: ["id", "cmds"],
};
/** Keys an ioctl takes but does not need (HWPT_ALLOC's fault_id is only read with IOMMU_HWPT_FAULT_ID_VALID). */
const IOMMUFD_OPTIONAL = new Set(["IOMMU_HWPT_ALLOC/fault", "IOMMU_HWPT_ALLOC/dirty-tracking", "IOMMU_HWPT_ALLOC/nest-parent", "IOMMU_HWPT_ALLOC/vste", "IOMMU_HWPT_SET_DIRTY_TRACKING/enable", "IOMMU_HWPT_PAGE_RESPONSE/cookie", "IOMMU_HWPT_PAGE_RESPONSE/code"]);

/** `iommufd: { vm, ioctl, ... }`: an ioctl on the VM's /dev/iommu; each ioctl's keys are required. */
function parseIommufdStep(r: Reader, node: Node | null, item: Node): IommufdStepSpec | undefined {
  const all = ["vm", "ioctl", ...new Set(Object.values(IOMMUFD_FIELDS).flat())];
  const f = r.fields(node, all, "the iommufd step");
  if (!f) return undefined;
  const vm = strReq(r, f, "vm", "iommufd", item);
  const ioNode = r.required(f, "ioctl", "the iommufd step", item);
  const ioctl = ioNode === undefined ? undefined : r.enumOf(ioNode, "ioctl", IOMMUFD_IOCTLS);
  if (vm === undefined || ioctl === undefined) return undefined;
  const wanted = IOMMUFD_FIELDS[ioctl];
  let ok = true;
  for (const [k, p] of f) {
    if (k === "vm" || k === "ioctl" || wanted.includes(k)) continue;
    r.error(p.key, "unknown-key", l10n.t("{0} takes no {1}", ioctl, k), l10n.t("{0} takes: {1}.", ioctl, ["vm", "ioctl", ...wanted].join(", ")));
    ok = false;
  }
  const spec: IommufdStepSpec = { vm, ioctl };
  const id = (k: string) => {
    const v = r.required(f, k, `${ioctl}`, item);
    return v === undefined ? undefined : r.int(v, k, 1, 0x7fffffff);
  };
  for (const k of wanted) {
    if (IOMMUFD_OPTIONAL.has(`${ioctl}/${k}`) && !f.has(k)) continue;
    switch (k) {
      case "code": {
        const v = r.enumOf(f.get(k)!.value, k, ["success", "invalid"] as const);
        if (v === undefined) ok = false;
        else spec.code = v;
        break;
      }
      case "dirty-tracking":
      case "enable": {
        const v = r.bool(f.get(k)!.value, k);
        if (v === undefined) ok = false;
        else if (k === "enable") spec.enable = v;
        else spec.dirtyTracking = v;
        break;
      }
      case "cookie": {
        const v = r.int(f.get(k)!.value, k, 1, 0x7fffffff);
        if (v === undefined) ok = false;
        else spec.cookie = v;
        break;
      }
      case "fault":
      case "ioas":
      case "pt":
      case "id":
      case "viommu":
      case "veventq":
      case "src-ioas": {
        const v = id(k);
        if (v === undefined) ok = false;
        else if (k === "src-ioas") spec.srcIoas = v;
        else spec[k] = v;
        break;
      }
      case "nest-parent": {
        const v = r.bool(f.get(k)!.value, k);
        if (v === undefined) ok = false;
        else spec.nestParent = v;
        break;
      }
      case "virt-id":
      case "depth": {
        // IOMMU_VDEVICE_ALLOC's virt_id (the vSID, an SMMUv3 StreamID: 32 bits); IOMMU_VEVENTQ_ALLOC's
        // veventq_depth (0 is -EINVAL in the kernel: a range error here).
        const v = r.required(f, k, `${ioctl}`, item);
        const n = v === undefined ? undefined : r.int(v, k, k === "depth" ? 1 : 0, 0xffffffff);
        if (n === undefined) ok = false;
        else if (k === "depth") spec.depth = n;
        else spec.virtId = n;
        break;
      }
      case "vste": {
        // IOMMU_HWPT_DATA_ARM_SMMUV3: struct iommu_hwpt_arm_smmuv3 { __aligned_le64 ste[2]; }.
        const node = f.get(k)!.value;
        const items = isSeq(node) ? (node.items as Node[]) : undefined;
        const words = items?.length === 2 ? items.map((x) => r.addr(x, k)) : undefined;
        if (words === undefined) {
          r.error(node, "invalid-value", l10n.t("vste is the two 64-bit words of the guest's STE"), l10n.t("Give vste: [0x..., 0x...] (words 0 and 1 of the vSTE: V, Config, S1Fmt, S1ContextPtr, S1CDMax; S1DSS, S1CIR/COR/CSH, S1STALLD, EATS)."));
          ok = false;
        } else if (words[0] === undefined || words[1] === undefined) ok = false;
        else spec.vste = [words[0], words[1]];
        break;
      }
      case "cmds": {
        // IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3: struct iommu_viommu_arm_smmuv3_invalidate { __aligned_le64 cmd[2]; } per entry.
        const v = r.required(f, k, `${ioctl}`, item);
        if (v === undefined) {
          ok = false;
          break;
        }
        const items = isSeq(v) ? (v.items as Node[]) : undefined;
        const pairs = items?.map((x) => (isSeq(x) && x.items.length === 2 ? (x.items as Node[]).map((w) => r.addr(w, k)) : undefined));
        if (pairs === undefined || pairs.length === 0 || pairs.some((p) => p === undefined)) {
          r.error(v, "invalid-value", l10n.t("cmds is a list of SMMUv3 commands, two 64-bit words each"), l10n.t("Give cmds: [[0x..., 0x...], ...] (struct iommu_viommu_arm_smmuv3_invalidate: the guest's command as it wrote it in its command queue, e.g. [0x0001_0000_0000_0012, 0x1000_0001] for CMD_TLBI_NH_VA)."));
          ok = false;
        } else if (pairs.some((p) => p!.some((w) => w === undefined))) ok = false;
        else spec.cmds = pairs.map((p) => [p![0]!, p![1]!]);
        break;
      }
      case "iova":
      case "src-iova":
      case "gpa": {
        const v = addrReq(r, f, k, ioctl, item);
        if (v === undefined) ok = false;
        else if (k === "src-iova") spec.srcIova = v;
        else spec[k] = v;
        break;
      }
      case "length": {
        const v = sizeReq(r, f, k, ioctl, item);
        if (v === undefined) ok = false;
        else spec.length = v;
        break;
      }
      case "device": {
        const v = bdfReq(r, f, k, ioctl, item);
        if (v === undefined) ok = false;
        else spec.device = v;
        break;
      }
    }
  }
  return ok ? spec : undefined;
}

function strReq(r: Reader, f: Fields, key: string, op: string, at: Node): string | undefined {
  const v = r.required(f, key, `the ${op} step`, at);
  return v === undefined ? undefined : r.str(v, key);
}
function bdfReq(r: Reader, f: Fields, key: string, op: string, at: Node): string | undefined {
  const v = r.required(f, key, `the ${op} step`, at);
  return v === undefined ? undefined : r.bdf(v, key)?.key;
}
function addrReq(r: Reader, f: Fields, key: string, op: string, at: Node): bigint | undefined {
  const v = r.required(f, key, `the ${op} step`, at);
  return v === undefined ? undefined : r.addr(v, key);
}
function sizeReq(r: Reader, f: Fields, key: string, op: string, at: Node): bigint | undefined {
  const v = r.required(f, key, `the ${op} step`, at);
  return v === undefined ? undefined : r.size(v, key);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
