/** Commands of the sidebar views: Translate Address (and its walk in the log and the Tables view), the radix, before/after the step, copy a value. */
import * as vscode from "vscode";
import type { TranslateAnswer, ViewId } from "../protocol/engine.js";
import type { NodeHandle } from "./trees.js";
import { needScenario, type CommandContext, type Commands } from "./commands.js";
import { parsePasid } from "../protocol/pasid.js";

/** Translate Address: asks for what was not given, answers in a notification, the log and the Tables view. */
/**
 * Translate Address. `pasid`: a request with that PASID (scalable-mode hosts); null: without one.
 * Asked for (empty: without PASID) when the IOVA was asked for too and the host takes PASIDs.
 */
async function translate(cx: CommandContext, device?: string, iova?: string, write?: boolean, atStep?: number | null, pasid?: number | null): Promise<TranslateAnswer | undefined> {
  const { client, log, scenarios: sm, trees, views, stateView } = cx;
  const uri = needScenario(cx);
  if (!uri) return undefined;
  try {
    // From a hover's "Full walk" link: the walk at the hovered step, so the views go there too.
    if (typeof atStep === "number") {
      if (stateView.after) await stateView.setAfter(false);
      await sm.setCursor(uri, atStep);
    }
    const interactive = iova === undefined;
    if (device === undefined) {
      const devices = await client.request("devices", { uri });
      const pick = await vscode.window.showQuickPick(devices.map((d) => ({ label: d.key, description: d.label.slice(d.key.length).trim() })), { title: vscode.l10n.t("Translate address: device"), placeHolder: vscode.l10n.t("The requesting device (its requester id selects the context entry)") });
      if (!pick) return undefined;
      device = pick.label;
    }
    if (iova === undefined) {
      iova = await vscode.window.showInputBox({
        title: vscode.l10n.t("Translate address for {0}: IOVA", device),
        placeHolder: "0x10000000",
        prompt: vscode.l10n.t("The I/O virtual address the device puts on the bus (hex with 0x, or decimal; _ allowed)"),
        validateInput: (v) => (/^\s*(0x[0-9a-f_]+|\d[\d_]*)\s*$/i.test(v) ? undefined : vscode.l10n.t("An address: 0x1234_5000 or 305418240")),
      });
      if (iova === undefined) return undefined;
    }
    if (pasid === undefined && interactive && (await client.request("devices", { uri })).some((d) => d.key === device && d.pasid === true)) {
      const text = await vscode.window.showInputBox({
        title: vscode.l10n.t("Translate {0} for {1}: PASID", iova, device),
        placeHolder: vscode.l10n.t("empty: a request without PASID"),
        prompt: vscode.l10n.t("The request's PASID (scalable mode: it selects the PASID table entry), hex with 0x or decimal; empty for a request without PASID"),
        validateInput: (v) => (parsePasid(v) !== undefined ? undefined : vscode.l10n.t("A PASID from 0 to 0xfffff, or empty")),
      });
      if (text === undefined) return undefined;
      pasid = parsePasid(text) ?? null;
    }
    if (write === undefined) {
      const dir = await vscode.window.showQuickPick([{ label: vscode.l10n.t("Read"), description: vscode.l10n.t("DMA read (device reads memory)"), write: false }, { label: vscode.l10n.t("Write"), description: vscode.l10n.t("DMA write (device writes memory)"), write: true }], { title: vscode.l10n.t("Translate {0} for {1}: direction", iova, device) });
      if (!dir) return undefined;
      write = dir.write;
    }
    const withPasid = typeof pasid === "number" ? pasid : undefined;
    const ans = await client.request("translate", { uri, device, iova, write, after: stateView.after, ...(withPasid !== undefined ? { pasid: withPasid } : {}) });
    const at = ans.state ? ` (${ans.state})` : "";
    // The request as Linux prints one with PASID (dmar_fault_do_one: "PASID 0x%x").
    const tag = withPasid !== undefined ? ` PASID 0x${withPasid.toString(16)}` : "";
    log.info(`translate ${device}${tag} ${write ? "write" : "read"} ${iova}${at}: ${ans.summary}`);
    for (const s of ans.stages) log.info(`  ${s.kind}${s.level ? ` L${s.level}` : ""}[${s.index}] @ ${s.address} = ${s.raw.join(" ")} ${s.fields.map(([k, v]) => `${k}=${v}`).join(" ")}${s.stop ? `  <- ${s.stop}` : ""}`);
    if (ans.revealId) {
      const shown = views.tables.visible;
      const roots = shown ? Promise.resolve() : trees.tables.whenRootsServed(2000);
      await vscode.commands.executeCommand("passthrough.tables.focus");
      await roots;
      // A refresh of the tree still on its way (the cursor just moved, a run just ended) can
      // replace the revealed element and drop the selection: reveal again once it has landed.
      // The tree may also be rebuilt under the reveal (the active scenario just switched: VS Code
      // cannot resolve the element until the new roots are read) - that is no reason to drop the answer.
      for (let attempt = 1; attempt <= 5; attempt++) {
        try {
          await views.tables.reveal(trees.tables.handle(ans.revealId), { select: true, focus: true, expand: true });
        } catch (e) {
          log.debug(`reveal ${ans.revealId} (attempt ${attempt}) failed: ${e instanceof Error ? e.message : String(e)}`);
        }
        await new Promise((ok) => setTimeout(ok, 100 * attempt));
        const selected = views.tables.selection.map((h) => h.id);
        log.debug(`revealed ${ans.revealId} (attempt ${attempt}); selection ${selected.join(",")}`);
        if (selected[0] === ans.revealId) break;
      }
    }
    const show = ans.reason === 0 ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
    void show(write ? vscode.l10n.t("{0} write {1}{2}: {3}", `${device}${tag}`, iova, at, ans.summary) : vscode.l10n.t("{0} read {1}{2}: {3}", `${device}${tag}`, iova, at, ans.summary), vscode.l10n.t("Show Walk in Log")).then((a) => a && log.show(true));
    return ans;
  } catch (e) {
    void vscode.window.showErrorMessage(vscode.l10n.t("Translate address: {0}", e instanceof Error ? e.message : String(e)));
    return undefined;
  }
}

export function viewCommands(cx: CommandContext): Commands {
  const { trees } = cx;
  return {
    "passthrough.translate": (device?: string, iova?: string, write?: boolean, atStep?: number | null, pasid?: number | null) => translate(cx, device, iova, write, atStep, pasid),
    "passthrough.translateDevice": (h?: NodeHandle) => {
      const node = h ? trees.groups.node(h.id) ?? trees.vms.node(h.id) ?? trees.tables.node(h.id) : undefined;
      return translate(cx, node?.device);
    },
    "passthrough.toggleRadix": async () => {
      await cx.config().update("radix", cx.radix() === "hex" ? "dec" : "hex", vscode.ConfigurationTarget.Global);
      return cx.radix();
    },
    "passthrough.showStateAfterStep": () => cx.stateView.setAfter(true),
    "passthrough.showStateBeforeStep": () => cx.stateView.setAfter(false),
    "passthrough.copyValue": async (h?: NodeHandle) => {
      if (!h) return;
      // (the trees were made in the views' order: vms, groups, tables, faults)
      const node = (Object.keys(trees) as ViewId[]).map((id) => trees[id].node(h.id)).find(Boolean);
      const text = node?.copy ?? node?.label;
      if (text) await vscode.env.clipboard.writeText(text);
    },
  };
}
