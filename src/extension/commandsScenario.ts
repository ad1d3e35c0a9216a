/** Commands about the scenario and its run: run again, move the cursor, open a template or the examples, the engine and its log, the trace panel. */
import * as vscode from "vscode";
import { LANGUAGE_ID } from "./scenarios.js";
import { openExamplesCommand } from "./examples.js";
import { activeUri, needScenario, type CommandContext, type Commands } from "./commands.js";

/**
 * A scenario's VM as the configuration a user runs (import/vmExport.ts, built by the worker), in a
 * new untitled editor: nothing is written until the user saves it. Returns the document (tests read it).
 */
async function exportVm(cx: CommandContext, arg?: unknown, format?: "qemu" | "libvirt", vmName?: string): Promise<vscode.TextDocument | undefined> {
  const uri = activeUri(cx, arg) ?? needScenario(cx);
  const doc = uri ? cx.scenarios.document(uri) : undefined;
  if (!uri || !doc) return undefined;
  const text = doc.getText();
  const ask = (vm?: string, f?: "qemu" | "libvirt") => cx.client.request("vmExport", { text, path: doc.uri.path, ...(vm !== undefined && f !== undefined ? { vm, format: f } : {}) });
  let found: Awaited<ReturnType<typeof ask>>;
  try {
    found = await ask();
  } catch (e) {
    void vscode.window.showErrorMessage(vscode.l10n.t("Export VM: {0}", e instanceof Error ? e.message : String(e)));
    return undefined;
  }
  const errors = found.errors;
  if (errors > 0) {
    void vscode.window.showErrorMessage(errors === 1 ? vscode.l10n.t("Export VM: the scenario has 1 error; fix it first (Problems view).") : vscode.l10n.t("Export VM: the scenario has {0} errors; fix them first (Problems view).", errors));
    return undefined;
  }
  const s = found;
  if (s.vms.length === 0) {
    void vscode.window.showInformationMessage(vscode.l10n.t("Export VM: the scenario has no VM (add one under vms:)."));
    return undefined;
  }
  if (vmName === undefined) {
    if (s.vms.length === 1) vmName = s.vms[0]!.name;
    else {
      const pick = await vscode.window.showQuickPick(s.vms.map((v) => ({ label: v.name, description: vscode.l10n.t("{0} assigned", v.devices) })), { title: vscode.l10n.t("Export VM: which VM") });
      if (!pick) return undefined;
      vmName = pick.label;
    }
  }
  if (format === undefined) {
    const pick = await vscode.window.showQuickPick(
      [
        { label: vscode.l10n.t("QEMU command line"), description: vscode.l10n.t("qemu-system-x86_64 with vfio-pci and intel-iommu"), format: "qemu" as const },
        { label: vscode.l10n.t("libvirt domain XML"), description: vscode.l10n.t("<domain> with <hostdev> and <iommu>"), format: "libvirt" as const },
      ],
      { title: vscode.l10n.t("Export VM {0} as", vmName) },
    );
    if (!pick) return undefined;
    format = pick.format;
  }
  let built: Awaited<ReturnType<typeof ask>>;
  try {
    built = await ask(vmName, format);
  } catch (e) {
    void vscode.window.showErrorMessage(vscode.l10n.t("Export VM: {0}", e instanceof Error ? e.message : String(e)));
    return undefined;
  }
  if (built.text === undefined) {
    void vscode.window.showErrorMessage(vscode.l10n.t("Export VM: the scenario has no VM named {0}.", vmName));
    return undefined;
  }
  const out = await vscode.workspace.openTextDocument({ content: built.text, language: format === "qemu" ? "shellscript" : "xml" });
  await vscode.window.showTextDocument(out, { preview: false });
  return out;
}

/** Shows the step's line in its editor. */
async function revealLine(cx: CommandContext, uri: string, step: number): Promise<void> {
  const st = cx.scenarios.states.get(uri);
  const s = st?.steps[Math.min(step, (st?.steps.length ?? 1) - 1)];
  const doc = cx.scenarios.document(uri);
  if (!s || !doc) return;
  const editor = await vscode.window.showTextDocument(doc, { preserveFocus: false, preview: false });
  const pos = new vscode.Position(s.line, 0);
  editor.selection = new vscode.Selection(pos, pos);
  editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
}

export function scenarioCommands(cx: CommandContext): Commands {
  const sm = cx.scenarios;
  return {
    "passthrough.rerun": async (arg?: unknown) => {
      const uri = activeUri(cx, arg) ?? needScenario(cx);
      if (!uri) return undefined;
      return vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: vscode.l10n.t("Passthrough: running scenario") }, () => sm.rerun(uri));
    },
    "passthrough.runToStep": async (uri?: string, step?: number) => {
      const u = activeUri(cx, uri);
      if (!u || step === undefined) return undefined;
      return sm.setCursor(u, step);
    },
    // From a tree item's click (its step) or its inline button (VS Code passes the tree element).
    "passthrough.revealStep": async (arg?: number | { id: string }) => {
      const uri = sm.active;
      const step = typeof arg === "number" ? arg : arg && typeof arg.id === "string" ? cx.trees.faults.node(arg.id)?.step : undefined;
      if (!uri || step === undefined) return;
      await sm.setCursor(uri, step);
      await revealLine(cx, uri, step);
    },
    "passthrough.goToStep": async (step?: number) => {
      const uri = needScenario(cx);
      const st = uri ? sm.states.get(uri) : undefined;
      if (!uri || !st) return undefined;
      if (step === undefined) {
        const pick = await vscode.window.showQuickPick(
          st.steps.map((s) => ({ label: `${s.step + 1}. ${s.op}`, description: vscode.l10n.t("line {0}", s.line + 1), detail: s.summary, step: s.step, iconPath: new vscode.ThemeIcon(s.status === "ok" ? "pass" : s.status === "fault" ? "warning" : "error") })),
          { title: vscode.l10n.t("Go to step: the sidebar shows the machine before it runs"), matchOnDetail: true },
        );
        if (!pick) return undefined;
        step = pick.step;
      }
      const r = await sm.setCursor(uri, step);
      await revealLine(cx, uri, step);
      return r;
    },
    "passthrough.showTrace": (arg?: unknown) => {
      const uri = activeUri(cx, arg) ?? needScenario(cx);
      return uri ? cx.tracePanels.open(uri) : undefined;
    },
    "passthrough.showLog": () => cx.log.show(),
    "passthrough.restartEngine": () => cx.client.restart(vscode.l10n.t("restart requested from the command palette")),
    "passthrough.newScenario": async () => {
      const dir = vscode.Uri.joinPath(cx.ctx.extensionUri, "examples");
      const entries = (await vscode.workspace.fs.readDirectory(dir)).filter(([n]) => n.endsWith(".passthrough.yaml")).sort();
      const items = await Promise.all(entries.map(async ([n]) => {
        const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(dir, n)));
        const title = /^name:\s*(.+)$/m.exec(text)?.[1] ?? n;
        const about = text.split("\n").filter((l) => l.startsWith("#")).map((l) => l.replace(/^#\s?/, "")).join(" ");
        return { label: title, description: n.replace(".passthrough.yaml", ""), detail: about, text };
      }));
      const pick = await vscode.window.showQuickPick(items, { title: vscode.l10n.t("New scenario from a template"), matchOnDetail: true });
      if (!pick) return undefined;
      const doc = await vscode.workspace.openTextDocument({ language: LANGUAGE_ID, content: pick.text });
      await vscode.window.showTextDocument(doc);
      return doc.uri.toString();
    },
    "passthrough.openExamples": openExamplesCommand(vscode, cx.ctx.extensionUri, LANGUAGE_ID),
    "passthrough.exportVm": (arg?: unknown, format?: "qemu" | "libvirt", vm?: string) => exportVm(cx, arg, format, vm),
  };
}
