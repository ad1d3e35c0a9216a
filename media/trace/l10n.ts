/**
 * The webview's strings through the extension's l10n bundle (as vscode-hexeditor does): the host
 * writes `vscode.l10n.bundle` into the document (body data-l10n) and this module hands it to
 * @vscode/l10n, whose `l10n.t` every module calls. main.ts imports it first, so the bundle is in
 * place before any other module's code runs (rows.ts translates its column titles as it loads).
 * No bundle (English, or a language without a translation): the English text.
 */
import * as l10n from "@vscode/l10n";

function configure(): void {
  const text = document.body?.dataset.l10n;
  if (!text) return;
  try {
    const contents = JSON.parse(text) as unknown;
    if (contents && typeof contents === "object" && Object.keys(contents).length > 0) l10n.config({ contents: contents as Record<string, string> });
  } catch {
    // A broken bundle leaves the English strings.
  }
}
configure();
