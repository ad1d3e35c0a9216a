/**
 * The two toolbars: the filters (device, VM, result, fault reason, IOVA range, search) with the
 * file name and the counts, and the cursor bar (row, fault and step navigation, radix, compare,
 * export). A filter change is settled 120 ms after the last keystroke.
 */
import type { TraceFilter, TraceInfo } from "../../src/protocol/engine.js";
import type { TraceViewState } from "../../src/protocol/webview.js";
import { SHORT_REASONS } from "../../src/trace/rowDisplay.js";
import { button, clipped, el, separator, textButton } from "./dom.js";
import * as l10n from "@vscode/l10n";

/** What the cursor bar's buttons do (the keyboard does the same). */
export interface NavActions {
  selectRow(row: "first" | "previous" | "next" | "last"): void;
  jumpFault(dir: 1 | -1): void;
  jumpStep(dir: 1 | -1): void;
  toggleRadix(): void;
  exportRows(format: "csv" | "json"): void;
  /** The filters (or compare) changed. */
  filter(filter: TraceFilter, compare: boolean): void;
}

function option(sel: HTMLSelectElement, value: string, label: string): void {
  // A device or VM name from an untrusted scenario may be 1 MB: clipped, whole in the tooltip.
  const o = clipped("option", { value }, label);
  sel.append(o);
}

export class Toolbar {
  readonly header = el("div", { class: "toolbar", role: "toolbar", "aria-label": l10n.t("Trace filters") });
  readonly nav = el("div", { class: "nav", role: "toolbar", "aria-label": l10n.t("Cursor") });
  private readonly fileLabel = el("span", { class: "file" });
  private readonly deviceSel = el("select", { "aria-label": l10n.t("Device"), title: l10n.t("Device") });
  private readonly vmSel = el("select", { "aria-label": l10n.t("VM"), title: l10n.t("VM") });
  private readonly resultSel = el("select", { "aria-label": l10n.t("Result"), title: l10n.t("Result") });
  private readonly reasonSel = el("select", { "aria-label": l10n.t("Fault reason"), title: l10n.t("Fault reason") });
  private readonly iovaMin = el("input", { type: "text", placeholder: l10n.t("IOVA from"), "aria-label": l10n.t("IOVA from"), size: "12", spellcheck: "false" });
  private readonly iovaMax = el("input", { type: "text", placeholder: l10n.t("IOVA to"), "aria-label": l10n.t("IOVA to"), size: "12", spellcheck: "false" });
  private readonly search = el("input", { type: "search", placeholder: l10n.t("Search"), "aria-label": l10n.t("Search rows"), size: "14", spellcheck: "false" });
  private readonly counts = el("span", { class: "counts", role: "status", "aria-live": "polite" });
  private readonly compareBox = el("input", { type: "checkbox", id: "compare" });
  private readonly radixButton: HTMLButtonElement;
  private filterTimer = 0;

  constructor(
    private readonly actions: NavActions,
    /** The radix the rows show (a search matches addresses as shown). */
    private readonly radix: () => "hex" | "dec",
  ) {
    const compareLabel = el("label", { for: "compare", title: l10n.t("Mark events added, changed or removed since the previous run") }, l10n.t("Compare with previous run"));
    const compareWrap = el("span", { class: "check" });
    compareWrap.append(this.compareBox, compareLabel);
    this.radixButton = textButton(undefined, "0x", "", () => actions.toggleRadix());
    this.radixButton.classList.add("radix");
    this.header.append(this.fileLabel, this.deviceSel, this.vmSel, this.resultSel, this.reasonSel, this.iovaMin, this.iovaMax, this.search, this.counts);
    this.nav.append(
      button("first", l10n.t("First row (Home)"), () => actions.selectRow("first")),
      button("faultUp", l10n.t("Previous fault (Shift+F8)"), () => actions.jumpFault(-1)),
      button("up", l10n.t("Previous row (Up)"), () => actions.selectRow("previous")),
      button("down", l10n.t("Next row (Down)"), () => actions.selectRow("next")),
      button("faultDown", l10n.t("Next fault (F8)"), () => actions.jumpFault(1)),
      button("last", l10n.t("Last row (End)"), () => actions.selectRow("last")),
      separator(),
      button("stepUp", l10n.t("First event of the previous step ([)"), () => actions.jumpStep(-1)),
      button("stepDown", l10n.t("First event of the next step (])"), () => actions.jumpStep(1)),
      separator(),
      this.radixButton,
      compareWrap,
      el("span", { class: "grow" }),
      textButton("export", "CSV", l10n.t("Export the filtered rows as CSV"), () => actions.exportRows("csv")),
      textButton("export", "JSON", l10n.t("Export the filtered rows as a JSON document"), () => actions.exportRows("json")),
    );
    this.showRadix("hex");
    for (const c of [this.deviceSel, this.vmSel, this.resultSel, this.reasonSel, this.compareBox]) c.addEventListener("change", () => this.onFilter());
    for (const c of [this.iovaMin, this.iovaMax, this.search]) c.addEventListener("input", () => this.onFilter());
  }

  /** The radix button says what it does: the other radix. */
  showRadix(radix: "hex" | "dec"): void {
    const t = radix === "hex" ? l10n.t("Show numbers in decimal (x)") : l10n.t("Show numbers in hex (x)");
    this.radixButton.title = t;
    this.radixButton.setAttribute("aria-label", t);
    this.radixButton.lastChild!.textContent = radix === "hex" ? "0x" : "10";
  }

  setFile(text: string): void {
    this.fileLabel.textContent = text;
    this.fileLabel.title = text;
  }

  setCounts(text: string): void {
    this.counts.textContent = text;
  }

  /** The choices of this run (devices, VMs, the reasons that occur) and the state's filter in the controls. */
  fill(info: TraceInfo, state: TraceViewState): void {
    const { deviceSel, vmSel, resultSel, reasonSel } = this;
    const keep = (sel: HTMLSelectElement, fill: () => void) => {
      const v = sel.value;
      sel.replaceChildren();
      fill();
      sel.value = v || "";
    };
    keep(deviceSel, () => {
      option(deviceSel, "", l10n.t("All devices"));
      for (const d of info.devices) option(deviceSel, String(d.sid), `${d.key}${d.name ? ` ${d.name}` : ""}`);
    });
    keep(vmSel, () => {
      option(vmSel, "", l10n.t("All VMs"));
      for (const v of info.vms) option(vmSel, v, v);
    });
    keep(resultSel, () => {
      option(resultSel, "", l10n.t("All results"));
      for (const [v, l] of [["1", l10n.t("IOTLB hits")], ["2", l10n.t("Walks")], ["3", l10n.t("Faults")], ["4", l10n.t("Interrupts")], ["5", l10n.t("Slow path")], ["1,2,3,4", l10n.t("DMA only")]]) option(resultSel, v!, l!);
    });
    keep(reasonSel, () => {
      option(reasonSel, "", l10n.t("Any reason"));
      for (const [r, n] of Object.entries(info.summary.byReason)) option(reasonSel, r, `0x${Number(r).toString(16).padStart(2, "0")} ${(info.reasonNames ?? SHORT_REASONS)[Number(r)] ?? ""} (${n})`);
    });
    deviceSel.value = state.filter.sids?.length ? String(state.filter.sids[0]) : "";
    vmSel.value = state.filter.vms?.[0] ?? "";
    resultSel.value = state.filter.results?.join(",") ?? "";
    reasonSel.value = state.filter.reasons?.length ? String(state.filter.reasons[0]) : "";
    this.iovaMin.value = state.filter.iovaMin ?? "";
    this.iovaMax.value = state.filter.iovaMax ?? "";
    this.search.value = state.filter.text ?? "";
    this.compareBox.checked = state.compare;
    this.compareBox.disabled = !info.canCompare;
  }

  private read(): TraceFilter {
    const { deviceSel, vmSel, resultSel, reasonSel, iovaMin, iovaMax, search } = this;
    const f: TraceFilter = {};
    if (deviceSel.value) f.sids = [Number(deviceSel.value)];
    if (vmSel.value) f.vms = [vmSel.value];
    if (resultSel.value) f.results = resultSel.value.split(",").map(Number);
    if (reasonSel.value) f.reasons = [Number(reasonSel.value)];
    if (iovaMin.value.trim()) f.iovaMin = iovaMin.value.trim();
    if (iovaMax.value.trim()) f.iovaMax = iovaMax.value.trim();
    // Search matches the rows as shown, addresses in the radix shown.
    if (search.value.trim()) {
      f.text = search.value.trim();
      if (this.radix() === "dec") f.radix = "dec";
    }
    return f;
  }

  private onFilter(): void {
    clearTimeout(this.filterTimer);
    this.filterTimer = window.setTimeout(() => {
      for (const input of [this.iovaMin, this.iovaMax]) input.classList.toggle("invalid", input.value.trim() !== "" && !/^(0x[0-9a-f_]+|\d[\d_]*)$/i.test(input.value.trim()));
      this.actions.filter(this.read(), this.compareBox.checked);
    }, 120);
  }
}
