/** The panel's state in one object: what VS Code keeps for it (TraceViewState), the run it shows and the cursor. */
import type { TraceInfo } from "../../src/protocol/engine.js";
import type { TraceViewState } from "../../src/protocol/webview.js";
import { clip } from "./dom.js";

export class TraceStore {
  /** Kept by VS Code (HostChannel.persist): the filter, compare, the selected event, the split. */
  readonly state: TraceViewState;
  info: TraceInfo | undefined;
  /** info.devices by source id (a row's device, without a search per row), names and VMs clipped for drawing (dom.ts clip). */
  deviceBySid = new Map<number, TraceInfo["devices"][number]>();
  /** The whole device and VM cell texts of a source id whose name or VM was clipped: the cells' tooltips. */
  fullCells = new Map<number, { device: string; vm: string }>();
  /** Rows that match the filter. */
  matched = 0;
  radix: "hex" | "dec" = "hex";
  runVersion = -1;
  steps: { line: number; op: string; summary?: string }[] = [];
  selectedRow = -1;
  cursorStep = 0;
  file = "";
  /** Bumped when every row's content may have changed: new data, new device list, another radix. */
  contentVersion = 0;

  constructor(saved: TraceViewState | undefined) {
    this.state = { ...(saved?.uri !== undefined ? { uri: saved.uri } : {}), filter: saved?.filter ?? {}, compare: saved?.compare ?? false, ...(saved?.selected !== undefined ? { selected: saved.selected } : {}), ...(saved?.walkWidth ? { walkWidth: saved.walkWidth } : {}), ...(saved?.gridHeight ? { gridHeight: saved.gridHeight } : {}) };
  }

  invalidateRows(): void {
    this.contentVersion++;
  }

  setInfo(info: TraceInfo): void {
    this.info = info;
    this.matched = info.summary.matched;
    this.deviceBySid = new Map();
    this.fullCells = new Map();
    for (const d of info.devices) {
      const name = clip(d.name);
      const vm = d.vm === undefined ? undefined : clip(d.vm);
      this.deviceBySid.set(d.sid, { ...d, name, ...(vm !== undefined ? { vm } : {}) });
      if (name !== d.name || vm !== d.vm) this.fullCells.set(d.sid, { device: `${d.key}${d.name ? ` ${d.name}` : ""}`, vm: d.vm ?? "" });
    }
  }
}
