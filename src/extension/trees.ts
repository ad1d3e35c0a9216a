/**
 * One TreeDataProvider per sidebar view, over the engine's tree nodes. Children are fetched
 * lazily from the worker. After a run or a cursor move, every list the view has shown is
 * re-fetched in one batch and compared: only elements whose own item or whose child list changed
 * are refreshed — never the whole tree on each change.
 */
import * as vscode from "vscode";
import type { Radix, TreeNode, ViewId } from "../protocol/engine.js";
import type { EngineClient } from "./engineClient.js";
import type { ScenarioManager } from "./scenarios.js";
import { MAX_TOOLTIP, spoken, visibleText } from "./text.js";

/** A tree element: one object per node id, so refreshes and reveal find the same element. */
export interface NodeHandle {
  readonly id: string;
}

/** Segments of a root node's id ("vm/web01" -> 2, "t" -> 1). */
const ROOT_DEPTH: Record<ViewId, number> = { vms: 2, groups: 2, tables: 1, faults: 2 };
const ROOT = "\u0000root";

/** Nodes a view shows besides the engine's (the Faults view lists imported evidence). */
export interface ExtraNodes {
  /** Id prefix of these nodes' roots, e.g. "ev/". */
  prefix: string;
  roots(): TreeNode[];
  children(id: string): TreeNode[];
  readonly onDidChange: vscode.Event<void>;
}

export class EngineTree implements vscode.TreeDataProvider<NodeHandle>, vscode.Disposable {
  private readonly handles = new Map<string, NodeHandle>();
  private readonly nodes = new Map<string, TreeNode>();
  /** Child id lists the view has asked for, by parent id (ROOT for the roots). */
  private readonly lists = new Map<string, string[]>();
  private readonly emitter = new vscode.EventEmitter<NodeHandle | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  /** Incremented on every refresh pass; tests wait on it. */
  generation = 0;
  private refreshing?: Promise<void>;
  private again = false;

  constructor(
    readonly view: ViewId,
    private readonly client: EngineClient,
    private readonly scenarios: ScenarioManager,
    private readonly radix: () => Radix,
    private readonly extra?: ExtraNodes,
    /** Show the state after the cursor's step instead of before it (the views' title toggle). */
    private readonly after: () => boolean = () => false,
  ) {
    extra?.onDidChange(() => this.emitter.fire(undefined));
  }

  private extraNodes(list: TreeNode[]): NodeHandle[] {
    for (const n of list) this.nodes.set(n.id, n);
    return list.map((n) => this.handle(n.id));
  }

  handle(id: string): NodeHandle {
    let h = this.handles.get(id);
    if (!h) {
      h = { id };
      this.handles.set(id, h);
    }
    return h;
  }

  node(id: string): TreeNode | undefined {
    return this.nodes.get(id);
  }

  getTreeItem(h: NodeHandle): vscode.TreeItem {
    const n = this.nodes.get(h.id);
    if (!n) {
      // reveal() asks for the item of an element before fetching its parent's children: the id
      // must already be right, since VS Code derives the element's handle from it.
      const placeholder = new vscode.TreeItem("…");
      placeholder.id = h.id;
      return placeholder;
    }
    // Names from the scenario or a log: bidi overrides, zero-width and control characters made
    // visible, a 1 MB name clipped with an ellipsis (whole, up to MAX_TOOLTIP, in the tooltip).
    const label = visibleText(n.label);
    const item = new vscode.TreeItem(label, n.collapsible);
    item.id = n.id;
    if (n.description !== undefined) item.description = visibleText(n.description);
    const tip = n.tooltip ?? (label !== n.label ? n.label : undefined);
    if (tip !== undefined) item.tooltip = visibleText(tip, MAX_TOOLTIP, true); // plain string: never markdown from user data
    // While the text has errors the views keep the last good run: its icons are dimmed (VS Code has no
    // way to dim a tree item's label) and each tooltip says so, beside the view's "stale" message.
    // Evidence records come from a log, not from the run: never stale.
    const stale = this.scenarios.activeState?.stale === true && !(this.extra && h.id.startsWith(this.extra.prefix));
    if (n.icon) item.iconPath = new vscode.ThemeIcon(n.icon, stale ? new vscode.ThemeColor("disabledForeground") : n.color ? new vscode.ThemeColor(n.color) : undefined);
    if (stale) item.tooltip = vscode.l10n.t("{0}\n\nStale: the scenario's text has errors; this is the last good run.", visibleText(tip ?? n.label, MAX_TOOLTIP, true));
    if (n.contextValue) item.contextValue = n.contextValue;
    if (n.step !== undefined) item.command = { command: "passthrough.revealStep", title: vscode.l10n.t("Show Step in Editor"), arguments: [n.step] };
    else if (n.contextValue === "evidence-record") item.command = { command: "passthrough.showEvidence", title: vscode.l10n.t("Show Decoded Evidence"), arguments: [n.id] };
    item.accessibilityInformation = { label: spoken(n.accessibilityLabel !== undefined ? visibleText(n.accessibilityLabel) : `${label}${n.description ? `, ${visibleText(n.description)}` : ""}`) };
    return item;
  }

  getParent(h: NodeHandle): NodeHandle | undefined {
    const parts = h.id.split("/");
    if (parts.length <= ROOT_DEPTH[this.view]) return undefined;
    return this.handle(parts.slice(0, -1).join("/"));
  }

  async getChildren(h?: NodeHandle): Promise<NodeHandle[]> {
    if (this.extra && h?.id.startsWith(this.extra.prefix)) return this.extraNodes(this.extra.children(h.id));
    if (this.extra && !h) {
      const engine = this.scenarios.active ? await this.engineChildren(undefined) : [];
      return [...engine, ...this.extraNodes(this.extra.roots())];
    }
    return this.engineChildren(h);
  }

  private async engineChildren(h: NodeHandle | undefined): Promise<NodeHandle[]> {
    const uri = this.scenarios.active;
    if (!uri) return [];
    const key = h?.id ?? ROOT;
    try {
      const [kids] = await this.client.request("children", { uri, view: this.view, ids: [h?.id ?? null], radix: this.radix(), after: this.after() });
      if (!kids) return [];
      this.store(key, kids);
      return kids.map((k) => this.handle(k.id));
    } catch {
      return (this.lists.get(key) ?? []).map((id) => this.handle(id));
    } finally {
      if (!h) this.rootServed.fire();
    }
  }

  private readonly rootServed = new vscode.EventEmitter<void>();

  /**
   * Resolves once the view has asked for (and been given) its roots, or after `timeoutMs`.
   * A view that just became visible must have loaded its roots before reveal() can find a path.
   */
  whenRootsServed(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        sub.dispose();
        resolve();
      }, timeoutMs);
      const sub = this.rootServed.event(() => {
        clearTimeout(t);
        sub.dispose();
        // Let the workbench render the roots it just received.
        setTimeout(resolve, 50);
      });
    });
  }

  private store(key: string, kids: TreeNode[]): void {
    this.lists.set(key, kids.map((k) => k.id));
    for (const k of kids) this.nodes.set(k.id, k);
  }

  /** The scenario changed (new run, cursor, radix): refresh what changed. Coalesces bursts. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        await this.refreshOnce();
      } while (this.again);
    })().finally(() => {
      this.refreshing = undefined;
      this.generation++;
    });
    return this.refreshing;
  }

  /**
   * Drops child lists and nodes no list refers to any more (their parent went away or changed),
   * so a refresh re-asks only for what the view can still show.
   */
  private prune(): void {
    const live = new Set<string>([ROOT]);
    for (const ids of this.lists.values()) for (const id of ids) live.add(id);
    for (const key of this.lists.keys()) if (!live.has(key)) this.lists.delete(key);
    for (const id of this.nodes.keys()) if (!live.has(id)) this.nodes.delete(id);
  }

  /**
   * The user collapsed `id`: stop refreshing its subtree (a 512-entry level expanded once must
   * not be re-read on every keystroke). The element is marked changed so that VS Code asks for
   * its children again when it is expanded.
   */
  forget(id: string): void {
    const prefix = `${id}/`;
    let dropped = false;
    for (const key of this.lists.keys()) {
      if (key === id || key.startsWith(prefix)) {
        this.lists.delete(key);
        dropped = true;
      }
    }
    if (dropped && this.nodes.has(id)) this.emitter.fire(this.handle(id));
  }

  /** Child lists the next refresh will re-read (tests, benchmarks). */
  get trackedLists(): number {
    return this.lists.size;
  }

  /** Forget everything (active scenario switched). */
  reset(): void {
    this.lists.clear();
    this.nodes.clear();
    this.emitter.fire(undefined);
    this.generation++;
  }

  /** When the last refresh started, got its answer, and ended (performance.now(); benchmarks read it). */
  readonly lastRefresh = { start: 0, answered: 0, end: 0 };

  private async refreshOnce(): Promise<void> {
    this.lastRefresh.start = performance.now();
    const uri = this.scenarios.active;
    if (!uri) return this.reset();
    const keys = [...this.lists.keys()];
    if (keys.length === 0) {
      this.emitter.fire(undefined);
      return;
    }
    let answers: (TreeNode[] | null)[];
    try {
      answers = await this.client.request("children", { uri, view: this.view, ids: keys.map((k) => (k === ROOT ? null : k)), radix: this.radix(), after: this.after() });
    } catch {
      return;
    }
    this.lastRefresh.answered = performance.now();
    const fire = new Set<string>();
    keys.forEach((key, i) => {
      const kids = answers[i];
      const old = this.lists.get(key) ?? [];
      if (kids === null || kids === undefined) {
        // The parent is gone; its parent's list change refreshes it.
        this.lists.delete(key);
        return;
      }
      const ids = kids.map((k) => k.id);
      if (ids.length !== old.length || ids.some((id, j) => id !== old[j])) fire.add(key);
      for (const k of kids) {
        const prev = this.nodes.get(k.id);
        if (prev && !sameNode(prev, k)) fire.add(k.id);
      }
      this.store(key, kids);
    });
    this.prune();
    if (fire.has(ROOT)) {
      this.emitter.fire(undefined);
    } else {
      // A refreshed parent re-renders its children: don't fire those separately.
      for (const id of fire) {
        const parent = id.slice(0, id.lastIndexOf("/"));
        if (!fire.has(parent)) this.emitter.fire(this.handle(id));
      }
    }
    this.lastRefresh.end = performance.now();
  }

  dispose(): void {
    this.emitter.dispose();
    this.rootServed.dispose();
  }
}

function sameNode(a: TreeNode, b: TreeNode): boolean {
  return a.label === b.label && a.description === b.description && a.tooltip === b.tooltip && a.icon === b.icon && a.color === b.color && a.collapsible === b.collapsible && a.contextValue === b.contextValue && a.accessibilityLabel === b.accessibilityLabel;
}

