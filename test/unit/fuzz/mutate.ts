// Shared by the fuzz suites: real inputs (examples/, test/fixtures/evidence) mutated by small,
// grammar-aware edits. Each case is a list of edits fast-check can shrink, so a failure is reported
// as the smallest input that still fails. Bounded: at most MAX_EDITS edits of short tokens.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";

const root = join(__dirname, "..", "..", "..");

export const SCENARIOS: readonly string[] = readdirSync(join(root, "examples"))
  .filter((f) => f.endsWith(".passthrough.yaml"))
  .sort()
  .map((f) => readFileSync(join(root, "examples", f), "utf8"));

export const EVIDENCE: readonly { name: string; text: string }[] = readdirSync(join(root, "test", "fixtures", "evidence"))
  .sort()
  .map((f) => ({ name: f, text: readFileSync(join(root, "test", "fixtures", "evidence", f), "utf8") }));

/**
 * Case count of a property: FUZZ_SCALE (default 1) times `n`. The suite runs fixed seeds so CI is
 * reproducible; FUZZ_SEED=<n> or FUZZ_SEED=random explores others (a failure prints its seed and path).
 */
export function runs(n: number): number {
  const scale = Number(process.env.FUZZ_SCALE ?? "1");
  return Math.max(1, Math.round(n * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}

export function seed(fixed: number): { seed?: number } {
  const s = process.env.FUZZ_SEED;
  if (s === "random") return {};
  if (s !== undefined && s !== "" && Number.isFinite(Number(s))) return { seed: Number(s) };
  return { seed: fixed };
}

/** Tokens of the scenario language and of YAML, and characters that broke parsers before. */
export const YAML_TOKENS = [
  ":", ": ", " ", "  ", "\n", "\r\n", "\r", "\t", "- ", "-", "{", "}", "[", "]", ",", '"', "'", "#", "# x", "&a ", "*a", "&b ", "*b", "!", "!!str ", "? ",
  "|", ">", "---\n", "...\n", "<<: ", "~", "null", "true", "false", "0", "0x", "0x1000", "0x1_0000_0000", "18446744073709551616", "-1", "1.5", "4KiB", "2MiB",
  "1GiB", "999999999999TiB", "01:00.0", "0000:01:00.0", "ff:1f.7", "00:01.0", "vfio-pci", "intel-vtd", "web01", "expect: ", "ok", "fault: 0x06",
  "dma: ", "map: ", "unmap: ", "translate: ", "poke: ", "invalidate: ", "start: ", "stop: ", "wait: ", "assign: ", "guest-map: ", "repeat: 10000000",
  "length: 1GiB", "iova: ", "device: ", "vm: ", "size: ", "perm: r", "granularity: page", "host:", "vms:", "workload:", "pci:", "iommu:", "\ufeff",
  "\u200b", "\u0000", "\u202e", "é", "😀", "\\", '\\"', "%", "@", "`", "=", "\u2028", "x".repeat(300),
  "[".repeat(100), "{a: ".repeat(70), Array.from({ length: 80 }, (_, i) => `${" ".repeat(i + 1)}- `).join("\n"),
] as const;

/** Tokens of kernel logs, lspci, IOMMU groups, ftrace, libvirt XML and QEMU command lines. */
export const EVIDENCE_TOKENS = [
  "\n", "\r\n", "\r", " ", "\t", ":", "[", "]", "(", ")", "<", ">", "/>", "</", '"', "'", "=", ",", "-", "0x", "0", "ffff", "fffffffffffff000",
  "DMAR: ", "DMAR: [DMA Write] Request device [01:00.0] fault addr ", "DMAR: [DMA Read NO_PASID] Request device [02:00.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set",
  "[fault reason ", "0x05", "0xff", "PTE Write access is not set", "vfio-pci 0000:01:00.0: ", "vfio_pin_pages", "IOMMU group ", "IOMMU Group 1 ",
  "/sys/kernel/iommu_groups/3/devices/0000:00:01.0", "01:00.0", "0000:01:00.0", "00:1f.7", "Kernel driver in use: ", "Kernel modules: ", "[8086:1572]",
  "qemu-system-x86_64 ", "-device vfio-pci,host=01:00.0", "-device intel-iommu,caching-mode=on", "<domain type='kvm'>", "<hostdev mode='subsystem' type='pci'>",
  "<address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>", "# tracer: nop", "map: IOMMU:", "unmap: IOMMU:", "io_page_fault: ", "iova=0x1000 paddr=0x2000 size=4096",
  "[    1.234567] ", "<4>", "AMD-Vi: Event logged [", "IO_PAGE_FAULT", "arm-smmu-v3", "callbacks suppressed", "\u001b[31m", "\u0000", "\ufeff", "é", "😀",
  "9".repeat(40), "a".repeat(200),
] as const;

export type Edit =
  | { op: "delete"; at: number; len: number }
  | { op: "insert"; at: number; token: number }
  | { op: "duplicate"; at: number; len: number }
  | { op: "replace"; at: number; len: number; token: number }
  | { op: "swap-lines"; a: number; b: number }
  | { op: "indent"; line: number; by: number }
  | { op: "truncate"; at: number }
  | { op: "splice"; at: number; other: number; from: number; len: number };

const MAX_EDITS = 8;
const frac = fc.integer({ min: 0, max: 1_000_000 });

export const editArb: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant("delete" as const), at: frac, len: fc.integer({ min: 1, max: 40 }) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant("insert" as const), at: frac, token: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("duplicate" as const), at: frac, len: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("replace" as const), at: frac, len: fc.integer({ min: 1, max: 12 }), token: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("swap-lines" as const), a: frac, b: frac }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("indent" as const), line: frac, by: fc.integer({ min: -4, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("truncate" as const), at: frac }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("splice" as const), at: frac, other: fc.nat(), from: frac, len: fc.integer({ min: 1, max: 400 }) }) },
);

/** A corpus index and up to MAX_EDITS edits. */
export const caseArb = fc.record({ src: fc.nat(), edits: fc.array(editArb, { minLength: 0, maxLength: MAX_EDITS }) });

const pos = (f: number, n: number) => Math.floor((f / 1_000_001) * (n + 1));

/** The text a case stands for (deterministic, so fast-check can replay and shrink it). */
export function applyEdits(corpus: readonly string[], tokens: readonly string[], c: { src: number; edits: readonly Edit[] }): string {
  let t = corpus[c.src % corpus.length]!;
  for (const e of c.edits) {
    switch (e.op) {
      case "delete": {
        const a = pos(e.at, t.length);
        t = t.slice(0, a) + t.slice(a + e.len);
        break;
      }
      case "insert": {
        const a = pos(e.at, t.length);
        t = t.slice(0, a) + tokens[e.token % tokens.length]! + t.slice(a);
        break;
      }
      case "duplicate": {
        const a = pos(e.at, t.length);
        t = t.slice(0, a + e.len) + t.slice(a, a + e.len) + t.slice(a + e.len);
        break;
      }
      case "replace": {
        const a = pos(e.at, t.length);
        t = t.slice(0, a) + tokens[e.token % tokens.length]! + t.slice(a + e.len);
        break;
      }
      case "swap-lines": {
        const lines = t.split("\n");
        const a = pos(e.a, lines.length - 1);
        const b = pos(e.b, lines.length - 1);
        [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        t = lines.join("\n");
        break;
      }
      case "indent": {
        const lines = t.split("\n");
        const l = pos(e.line, lines.length - 1);
        lines[l] = e.by >= 0 ? " ".repeat(e.by) + lines[l]! : lines[l]!.replace(new RegExp(`^ {0,${-e.by}}`), "");
        t = lines.join("\n");
        break;
      }
      case "truncate":
        t = t.slice(0, pos(e.at, t.length));
        break;
      case "splice": {
        const o = corpus[e.other % corpus.length]!;
        const f = pos(e.from, o.length);
        const a = pos(e.at, t.length);
        t = t.slice(0, a) + o.slice(f, f + e.len) + t.slice(a);
        break;
      }
    }
  }
  return t;
}

/** 0-based line and column of an offset, counting \n, \r\n and a lone \r as line breaks. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 0;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start };
}
