/**
 * Strings from a scenario or a log (VM, device and step names, evidence text) as the workbench
 * shows them in tree items: VS Code draws a label as text, but it does not isolate bidi overrides
 * (U+202E turns the rest of a label around: "Trojan Source"), draws zero-width and control
 * characters invisibly, and lays out a 1 MB label in full on every refresh. No `vscode` import:
 * unit-tested.
 */

/** The longest label or description drawn as is; longer ones end with an ellipsis. */
export const MAX_LABEL = 200;
/** The longest tooltip: the whole name up to here (a hover of a megabyte would freeze as well). */
export const MAX_TOOLTIP = 4000;

/** C0/C1 controls (tab and newline excepted), bidi embeddings/overrides/isolates/marks, zero-width characters, BOM, line/paragraph separators. */
 
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Makes every invisible or reordering character visible as "<U+202E>"; `max` cuts the result with an ellipsis (never inside a surrogate pair). */
export function visibleText(text: string, max = MAX_LABEL, newlines = false): string {
  // Work on a bounded prefix: escaping can only lengthen the text, so nothing past max is ever shown.
  const head = text.length > max ? text.slice(0, max) : text;
  let out = head.replace(INVISIBLE, (c) => `<U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}>`);
  if (!newlines) out = out.replace(/[\t\n]/g, " ");
  if (out.length <= max && head.length === text.length) return out;
  let end = Math.min(out.length, max - 1);
  const c = out.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${out.slice(0, end)}…`;
}

/** The longest CodeLens title part taken from a scenario or a log (a lens is one line above the code). */
export const MAX_LENS = 160;

/**
 * Text from a scenario or a log (a step's summary, which names drivers, devices and groups; an
 * expectation's failure; an evidence record's explanation) inside a CodeLens title: made visible
 * and clipped as a tree label is, and "$(name)" escaped, since the workbench draws "$(name)" in a
 * lens title as an icon and "\$(name)" as the text "$(name)" (vs/base/browser/ui/iconLabel/
 * iconLabels.ts renderLabelWithIcons, the regex `(\\)?\$\((name)\)`).
 */
export function lensText(text: string, max = MAX_LENS): string {
  const escaped = visibleText(text, max).replace(/\$\(/g, "\\$(");
  // Escaping lengthens: clip again (a cut only drops a tail, so every "$(" left keeps its "\").
  return escaped.length <= max ? escaped : visibleText(escaped, max);
}

/**
 * A node's text as a screen reader should say it: the separators the trees draw ("·", "→", "@",
 * a range's "–") as words or pauses, so "RW · IOVA 0x0 → HPA 0x1000" is not read as "middle dot …
 * rightwards arrow".
 */
export function spoken(text: string): string {
  return text
    .replace(/\s*·\s*/g, ", ")
    .replace(/\s*→\s*/g, " to ")
    .replace(/\s@\s/g, " at ")
    // Lookarounds, not captures: "0–1–2" shares its middle digit between two ranges (a capture
    // consumed it and left "1–2" as drawn; the property test below found "a–a–a").
    .replace(/(?<=\w)–(?=\w)/g, " to ");
}
