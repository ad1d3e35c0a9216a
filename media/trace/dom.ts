/** DOM helpers of the panel: elements, toolbar icons and buttons, number formatting. Strings are set as text, never parsed as HTML. */

/**
 * 1234567 -> "1,234,567". Not toLocaleString: its first call loads the locale data, 25-35 ms on
 * the benchmark machine, on the path to the first rows.
 */
export function groupDigits(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Longest name (device, VM, step summary) drawn as is; a longer one is cut with an ellipsis and shown whole in a tooltip. */
export const MAX_SHOWN = 200;

/**
 * `text` cut to MAX_SHOWN characters with an ellipsis (never inside a surrogate pair): a 1 MB name
 * from an untrusted scenario or log costs the panel a few hundred characters of layout, not seconds.
 */
export function clip(text: string, max = MAX_SHOWN): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/** An element whose text is `text` clipped (see clip), with the whole text as its tooltip when cut. */
export function clipped<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string>, text: string): HTMLElementTagNameMap[K] {
  const shown = clip(text);
  return el(tag, shown === text ? attrs : { ...attrs, title: text }, shown);
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * Toolbar icons (16 px, currentColor), drawn for this panel in the style of VS Code's codicons
 * (the codicon font is not bundled). Paths only: no markup from data.
 */
const ICONS: Record<string, string[]> = {
  first: ["M3 2h10v1.5H3z", "M8 4.6l-4.5 4.5 1.06 1.06 2.69-2.69V14h1.5V7.47l2.69 2.69L12.5 9.1z"],
  last: ["M3 12.5h10V14H3z", "M8 11.4l4.5-4.5-1.06-1.06-2.69 2.69V2h-1.5v6.53L4.56 5.84 3.5 6.9z"],
  up: ["M8 2.6L3.5 7.1l1.06 1.06 2.69-2.69V14h1.5V5.47l2.69 2.69L12.5 7.1z"],
  down: ["M8 13.4l4.5-4.5-1.06-1.06-2.69 2.69V2h-1.5v8.53L4.56 7.84 3.5 8.9z"],
  faultUp: ["M8 1.5L4 5.5l1.06 1.06L8 3.62l2.94 2.94L12 5.5z", "!M8 7.5a3.5 3.5 0 1 0 0 7 3.5 3.5 0 0 0 0-7zm-.6 1.4h1.2v2.9H7.4zm0 3.5h1.2v1.1H7.4z"],
  faultDown: ["M8 14.5l4-4-1.06-1.06L8 12.38 5.06 9.44 4 10.5z", "!M8 1.5a3.5 3.5 0 1 0 0 7 3.5 3.5 0 0 0 0-7zm-.6 1.4h1.2v2.9H7.4zm0 3.5h1.2v1.1H7.4z"],
  stepUp: ["M8 1.8L3.5 6.3l1.06 1.06L8 3.92l3.44 3.44L12.5 6.3z", "M8 6.8L3.5 11.3l1.06 1.06L8 8.92l3.44 3.44 1.06-1.06z", "M3 13.5h10V15H3z"],
  stepDown: ["M8 14.2l4.5-4.5-1.06-1.06L8 12.08 4.56 8.64 3.5 9.7z", "M8 9.2l4.5-4.5-1.06-1.06L8 7.08 4.56 3.64 3.5 4.7z", "M3 1h10v1.5H3z"],
  export: ["M8 1.5l3.5 3.5-1.06 1.06-1.69-1.69V10h-1.5V4.37L5.56 6.06 4.5 5z", "M2.5 9h1.5v3.5h8V9h1.5v5h-11z"],
};
const SVG = "http://www.w3.org/2000/svg";
function icon(name: string): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICONS[name] ?? []) {
    const path = document.createElementNS(SVG, "path");
    // A leading "!" marks the fault part of an icon (the error colour).
    if (d.startsWith("!")) path.setAttribute("class", "err");
    path.setAttribute("d", d.replace(/^!/, ""));
    svg.append(path);
  }
  return svg;
}
/** A toolbar button: an icon, its tooltip and accessible name (with the key that does the same). */
export function button(iconName: string, title: string, onClick: () => void): HTMLButtonElement {
  const b = el("button", { class: "icon", type: "button", title, "aria-label": title });
  b.append(icon(iconName));
  b.addEventListener("click", onClick);
  return b;
}
/** A text button in VS Code's secondary button style, optionally with an icon. */
export function textButton(iconName: string | undefined, label: string, title: string, onClick: () => void): HTMLButtonElement {
  const b = el("button", { class: "text", type: "button", title });
  if (iconName) b.append(icon(iconName));
  b.append(document.createTextNode(label));
  b.addEventListener("click", onClick);
  return b;
}
export const separator = () => el("span", { class: "sep", role: "separator", "aria-orientation": "vertical" });

/** The line under the toolbar that says what went wrong (an error) or why there are no rows (soft). */
export class MessageLine {
  readonly el = el("div", { class: "message" });
  show(text: string, soft = false): void {
    this.el.textContent = text;
    this.el.className = soft ? "message soft" : "message error";
  }
  hide(): void {
    this.el.textContent = "";
    this.el.className = "message";
  }
}
