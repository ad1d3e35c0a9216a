/**
 * Open Example Scenarios: the user picks examples (multi-select, each with the one-line summary
 * of its comment header) and gets copies of their own — in a folder they choose, or as untitled
 * documents — never the files inside the installed extension (saving those would change the
 * installation). An existing file is never overwritten without asking; "Keep Both" picks a free
 * name (`healthy-nic-2.passthrough.yaml`).
 *
 * The flow is written against a small ExamplesHost (file system + prompts), so it is unit-tested
 * with an in-memory file system and scripted answers; `vscodeExamplesHost` is the real one.
 * The command also takes arguments (examples, folder, onConflict) that answer the prompts, for
 * scripts, keybindings and the e2e test.
 */
import type * as vscodeApi from "vscode";
import * as l10n from "@vscode/l10n";

export const EXAMPLE_SUFFIX = ".passthrough.yaml";

export interface ExampleInfo {
  /** File name, e.g. healthy-nic.passthrough.yaml. */
  file: string;
  /** The scenario's `name:`, else the file's stem. */
  title: string;
  /** One line from the comment header (its first sentence), else the `description:`. */
  summary: string;
  text: string;
}

export type Conflict = "overwrite" | "rename" | "skip";

export interface ExamplesHost<U> {
  examplesDir: U;
  join(dir: U, name: string): U;
  /** How a folder is named in messages. */
  label(u: U): string;
  listDir(dir: U): Promise<string[]>;
  readText(u: U): Promise<string>;
  exists(u: U): Promise<boolean>;
  writeText(u: U, text: string): Promise<void>;
  pickExamples(examples: ExampleInfo[]): Promise<ExampleInfo[] | undefined>;
  pickDestination(count: number): Promise<"folder" | "untitled" | undefined>;
  pickFolder(): Promise<U | undefined>;
  /** Asked once for all chosen examples whose file already exists in the folder. */
  askConflict(files: string[], folder: string): Promise<Conflict | undefined>;
  openFile(u: U, focus: boolean): Promise<void>;
  /** An untitled document named `file` (so its tab and Save As show the example's name). */
  openUntitled(file: string, text: string, focus: boolean): Promise<void>;
  /** After copying into a folder outside the workspace: offers to open it. */
  offerFolder(folder: U, message: string): Promise<void>;
  info(message: string): void;
}

export interface OpenExamplesArgs<U> {
  /** Example names (file stems or file names) to use instead of asking. */
  examples?: string[];
  /** A folder to copy into, or "untitled", instead of asking. */
  folder?: U | "untitled";
  /** The answer for existing files, instead of asking. */
  onConflict?: Conflict;
}

export interface OpenExamplesResult<U> {
  written: U[];
  untitled: number;
  skipped: string[];
}

/** The title and one-line summary of an example, from its text. */
export function describeExample(file: string, text: string): ExampleInfo {
  const stem = file.endsWith(EXAMPLE_SUFFIX) ? file.slice(0, -EXAMPLE_SUFFIX.length) : file;
  const title = unquote(/^name:\s*(.+?)\s*$/m.exec(text)?.[1]) ?? stem;
  const header: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.startsWith("#")) break;
    header.push(line.replace(/^#\s?/, "").trim());
  }
  const comment = header.join(" ").replace(/\s+/g, " ").trim();
  const described = unquote(/^description:\s*(.+?)\s*$/m.exec(text)?.[1]);
  return { file, title, summary: firstSentence(comment) || described || "", text };
}

function unquote(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const m = /^(["'])(.*)\1$/.exec(s);
  return m ? m[2] : s;
}

/** The first sentence (up to ". " or ": "), at most 140 characters. */
function firstSentence(s: string): string {
  const m = /^(.+?[.:])(\s|$)/.exec(s);
  let out = (m ? m[1]! : s).replace(/:$/, ".");
  if (out.length > 140) out = `${out.slice(0, 139).replace(/\s+\S*$/, "")}…`;
  return out;
}

/** A file name not in `taken`: stem-2.passthrough.yaml, stem-3..., in order. */
export function freeName(file: string, taken: (name: string) => Promise<boolean>): Promise<string> {
  const stem = file.endsWith(EXAMPLE_SUFFIX) ? file.slice(0, -EXAMPLE_SUFFIX.length) : file.replace(/\.[^.]*$/, "");
  const ext = file.slice(stem.length);
  const next = async (n: number): Promise<string> => {
    const name = `${stem}-${n}${ext}`;
    return (await taken(name)) ? next(n + 1) : name;
  };
  return next(2);
}

export async function listExamples<U>(host: Pick<ExamplesHost<U>, "examplesDir" | "join" | "listDir" | "readText">): Promise<ExampleInfo[]> {
  const files = (await host.listDir(host.examplesDir)).filter((f) => f.endsWith(EXAMPLE_SUFFIX)).sort();
  return Promise.all(files.map(async (f) => describeExample(f, await host.readText(host.join(host.examplesDir, f)))));
}

/**
 * Copies examples into `folder`. Existing files are asked about once (all of them together)
 * before anything is written; undefined when the user cancels that question.
 */
export async function copyExamples<U>(
  host: Pick<ExamplesHost<U>, "join" | "label" | "exists" | "writeText" | "askConflict">,
  chosen: ExampleInfo[],
  folder: U,
  onConflict?: Conflict,
): Promise<{ written: U[]; skipped: string[] } | undefined> {
  const existing: string[] = [];
  for (const e of chosen) if (await host.exists(host.join(folder, e.file))) existing.push(e.file);
  let answer: Conflict | undefined = "overwrite";
  if (existing.length > 0) {
    answer = onConflict ?? (await host.askConflict(existing, host.label(folder)));
    if (!answer) return undefined;
  }
  const written: U[] = [];
  const skipped: string[] = [];
  const planned = new Set<string>();
  for (const e of chosen) {
    let name = e.file;
    if (existing.includes(e.file)) {
      if (answer === "skip") {
        skipped.push(e.file);
        continue;
      }
      if (answer === "rename") name = await freeName(e.file, async (n) => planned.has(n) || (await host.exists(host.join(folder, n))));
    }
    planned.add(name);
    const target = host.join(folder, name);
    await host.writeText(target, e.text);
    written.push(target);
  }
  return { written, skipped };
}

/** The whole command. Undefined when the user cancelled at some point. */
export async function openExamples<U>(host: ExamplesHost<U>, args: OpenExamplesArgs<U> = {}): Promise<OpenExamplesResult<U> | undefined> {
  const all = await listExamples(host);
  let chosen: ExampleInfo[] | undefined;
  if (args.examples) {
    const want = args.examples.map((n) => (n.endsWith(EXAMPLE_SUFFIX) ? n : `${n}${EXAMPLE_SUFFIX}`));
    const unknown = want.filter((w) => !all.some((e) => e.file === w));
    if (unknown.length > 0) throw new Error(l10n.t("No example named {0}. Examples: {1}.", unknown.join(", "), all.map((e) => e.file.slice(0, -EXAMPLE_SUFFIX.length)).join(", ")));
    chosen = all.filter((e) => want.includes(e.file));
  } else {
    chosen = await host.pickExamples(all);
  }
  if (!chosen || chosen.length === 0) return undefined;
  const where = args.folder === undefined ? await host.pickDestination(chosen.length) : args.folder === "untitled" ? "untitled" : "folder";
  if (!where) return undefined;
  if (where === "untitled") {
    for (let i = 0; i < chosen.length; i++) await host.openUntitled(chosen[i]!.file, chosen[i]!.text, i === chosen.length - 1);
    return { written: [], untitled: chosen.length, skipped: [] };
  }
  const folder = args.folder !== undefined && args.folder !== "untitled" ? args.folder : await host.pickFolder();
  if (folder === undefined) return undefined;
  const copied = await copyExamples(host, chosen, folder, args.onConflict);
  if (!copied) return undefined;
  for (let i = 0; i < copied.written.length; i++) await host.openFile(copied.written[i]!, i === copied.written.length - 1);
  const skippedNote = copied.skipped.length ? (copied.skipped.length === 1 ? l10n.t(" (1 existing file left as it was)") : l10n.t(" ({0} existing files left as they were)", copied.skipped.length)) : "";
  const message = copied.written.length === 1 ? l10n.t("Copied 1 example to {0}{1}.", host.label(folder), skippedNote) : l10n.t("Copied {0} examples to {1}{2}.", copied.written.length, host.label(folder), skippedNote);
  if (args.folder === undefined) await host.offerFolder(folder, message);
  else host.info(message);
  return { ...copied, untitled: 0 };
}

/** The real host: the extension's examples/ folder, VS Code's file system and prompts. */
export function vscodeExamplesHost(vscode: typeof vscodeApi, extensionUri: vscodeApi.Uri, languageId: string): ExamplesHost<vscodeApi.Uri> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const inWorkspace = (u: vscodeApi.Uri) => vscode.workspace.getWorkspaceFolder(u) !== undefined;
  return {
    examplesDir: vscode.Uri.joinPath(extensionUri, "examples"),
    join: (dir, name) => vscode.Uri.joinPath(dir, name),
    label: (u) => (u.scheme === "file" ? u.fsPath : u.toString(true)),
    listDir: async (dir) => (await vscode.workspace.fs.readDirectory(dir)).filter(([, t]) => t === vscode.FileType.File).map(([n]) => n),
    readText: async (u) => decoder.decode(await vscode.workspace.fs.readFile(u)),
    exists: async (u) => {
      try {
        await vscode.workspace.fs.stat(u);
        return true;
      } catch {
        return false;
      }
    },
    writeText: (u, text) => Promise.resolve(vscode.workspace.fs.writeFile(u, encoder.encode(text))),
    pickExamples: async (examples) => {
      const items = examples.map((e) => ({ label: e.title, description: e.file.slice(0, -EXAMPLE_SUFFIX.length), detail: e.summary, example: e }));
      const picked = await vscode.window.showQuickPick(items, { title: l10n.t("Open Example Scenarios"), placeHolder: l10n.t("Check the examples to open, then OK"), canPickMany: true, matchOnDescription: true, matchOnDetail: true, ignoreFocusOut: true });
      return picked?.map((p) => p.example);
    },
    pickDestination: async (count) => {
      const items = [
        { label: l10n.t("$(folder) Copy into a Folder…"), detail: count === 1 ? l10n.t("Your own copy; never overwrites without asking.") : l10n.t("Your own copies; never overwrites without asking."), value: "folder" as const },
        { label: count === 1 ? l10n.t("$(new-file) Open as Untitled Document") : l10n.t("$(new-file) Open as Untitled Documents"), detail: count === 1 ? l10n.t("Nothing is written until you save it.") : l10n.t("Nothing is written until you save them."), value: "untitled" as const },
      ];
      const picked = await vscode.window.showQuickPick(items, { title: count === 1 ? l10n.t("Open 1 example") : l10n.t("Open {0} examples", count), placeHolder: count === 1 ? l10n.t("Where should the example go?") : l10n.t("Where should the examples go?"), ignoreFocusOut: true });
      return picked?.value;
    },
    pickFolder: async () => {
      const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: l10n.t("Copy Examples Here"), title: l10n.t("Copy the examples into this folder"), defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri });
      return picked?.[0];
    },
    askConflict: async (files, folder) => {
      const what = files.length === 1 ? l10n.t("{0} already exists", files[0]!) : l10n.t("{0} files already exist ({1})", files.length, files.join(", "));
      const [keepBoth, skipExisting, overwrite] = [l10n.t("Keep Both"), l10n.t("Skip Existing"), l10n.t("Overwrite")];
      const a = await vscode.window.showWarningMessage(l10n.t("{0} in {1}.", what, folder), { modal: true, detail: l10n.t("Keep Both copies the example under a new name, e.g. healthy-nic-2.passthrough.yaml.") }, keepBoth, skipExisting, overwrite);
      return a === keepBoth ? "rename" : a === skipExisting ? "skip" : a === overwrite ? "overwrite" : undefined;
    },
    openFile: async (u, focus) => {
      await vscode.window.showTextDocument(u, { preview: false, preserveFocus: !focus });
    },
    openUntitled: async (file, text, focus) => {
      // untitled:<file> names the tab and the Save As default; if a document of that name is
      // already open (and not empty), a content-titled untitled document instead.
      let doc = await vscode.workspace.openTextDocument(vscode.Uri.from({ scheme: "untitled", path: file }));
      if (doc.getText() === "") {
        const editor = await vscode.window.showTextDocument(doc, { preview: false, preserveFocus: !focus });
        await editor.edit((b) => b.insert(new vscode.Position(0, 0), text));
        if (doc.languageId !== languageId) doc = await vscode.languages.setTextDocumentLanguage(doc, languageId);
        return;
      }
      doc = await vscode.workspace.openTextDocument({ language: languageId, content: text });
      await vscode.window.showTextDocument(doc, { preview: false, preserveFocus: !focus });
    },
    // Not awaited: the command is done once the files are open; the notification stays until answered.
    offerFolder: async (folder, message) => {
      if (inWorkspace(folder)) {
        void vscode.window.showInformationMessage(message);
        return;
      }
      const [openFolder, addFolder] = [l10n.t("Open Folder"), l10n.t("Add Folder to Workspace")];
      void vscode.window.showInformationMessage(message, openFolder, addFolder).then((a) => {
        if (a === openFolder) void vscode.commands.executeCommand("vscode.openFolder", folder);
        else if (a === addFolder) vscode.workspace.updateWorkspaceFolders(vscode.workspace.workspaceFolders?.length ?? 0, 0, { uri: folder });
      });
    },
    info: (message) => void vscode.window.showInformationMessage(message),
  };
}

/**
 * The command handler: arguments only when they are an options object (a menu may pass a Uri);
 * a failure (an unknown example name, a folder that cannot be written) is shown as an error
 * message, and the handler resolves to undefined.
 */
export function openExamplesCommand(vscode: typeof vscodeApi, extensionUri: vscodeApi.Uri, languageId: string): (args?: unknown) => Promise<OpenExamplesResult<vscodeApi.Uri> | undefined> {
  return async (args) => {
    const opts = typeof args === "object" && args !== null && !(args instanceof vscode.Uri) ? (args as OpenExamplesArgs<vscodeApi.Uri>) : {};
    try {
      return await openExamples(vscodeExamplesHost(vscode, extensionUri, languageId), opts);
    } catch (e) {
      void vscode.window.showErrorMessage(l10n.t("Open Example Scenarios: {0}", e instanceof Error ? e.message : String(e)));
      return undefined;
    }
  };
}
