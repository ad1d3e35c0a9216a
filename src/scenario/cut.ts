/**
 * The cut of a scenario's text at its top-level `workload:` key into the head (host, vms) and one
 * text per workload item, when that cut is provably safe. The incremental parser caches items by
 * their text; the full parse reads plain items without the yaml package (fastItems.ts).
 */

export interface Cut {
  /** Text up to and including the `workload:` line's newline. */
  head: string;
  /** The head as a document of its own: the same text up to `workload:`, then ` []`. */
  headDoc: string;
  /** [start offset, start line] of each item's text. */
  items: { start: number; line: number; text: string }[];
}

/** Cuts the text into head + workload items, or undefined when the cut is not provably safe. */
export function cutWorkload(text: string): Cut | undefined {
  // A lone CR is a line break for YAML but not for the cut's lines.
  if (/\r(?!\n)/.test(text)) return undefined;
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
