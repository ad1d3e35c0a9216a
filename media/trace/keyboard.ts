/** The grid's keys: rows (arrows, j/k, Page Up/Down, Home/End), faults (F8, Shift+F8, n/N), steps ([ and ]), radix (x). */
import { ROW_HEIGHT } from "./rows.js";

export interface GridKeyActions {
  /** The selected row, -1 for none. */
  selectedRow(): number;
  /** The number of rows (matching the filter). */
  rows(): number;
  select(row: number): void;
  jumpFault(dir: 1 | -1): void;
  jumpStep(dir: 1 | -1): void;
  toggleRadix(): void;
}

export function bindGridKeys(scroller: HTMLElement, a: GridKeyActions): void {
  scroller.addEventListener("keydown", (e) => {
    const page = Math.max(1, Math.floor(scroller.clientHeight / ROW_HEIGHT) - 1);
    const key = e.key;
    const selectedRow = a.selectedRow();
    let handled = true;
    if (key === "ArrowDown" || key === "j") a.select(selectedRow + 1);
    else if (key === "ArrowUp" || key === "k") a.select(selectedRow - 1);
    else if (key === "PageDown") a.select(selectedRow + page);
    else if (key === "PageUp") a.select(selectedRow - page);
    else if (key === "Home") a.select(0);
    else if (key === "End") a.select(a.rows() - 1);
    else if (key === "F8" || key === "n") a.jumpFault(e.shiftKey ? -1 : 1);
    else if (key === "N") a.jumpFault(-1);
    else if (key === "]") a.jumpStep(1);
    else if (key === "[") a.jumpStep(-1);
    else if (key === "x") a.toggleRadix();
    else handled = false;
    if (handled) {
      e.preventDefault();
      // Not on to the webview's window, where VS Code forwards keys to the workbench: its
      // keybindings for this panel (F8, Shift+F8, Alt+] and Alt+[ run passthrough.traceNextFault...)
      // would move the selection a second time.
      e.stopPropagation();
    }
  });
}
