/** The panel's state in one object: what VS Code keeps for it (TraceViewState), the run it shows and the cursor. */
import type { TraceInfo } from "../../src/protocol/engine.js";
import type { TraceViewState } from "../../src/protocol/webview.js";

export class TraceStore {
  /** Kept by VS Code (HostChannel.persist): the filter, compare, the selected event, the split. */
  readonly state: TraceViewState;
  info: TraceInfo | undefined;
  /** info.devices by source id (a row's device, without a search per row). */
  deviceBySid = new Map<number, TraceInfo["devices"][number]>();
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
    this.deviceBySid = new Map(info.devices.map((d) => [d.sid, d]));
  }
}
