/**
 * Every id the extension contributes in package.json, typed (as vscode-js-debug's
 * contributionUtils.ts does): commands, views, configuration keys, the context keys its `when`
 * clauses read, the webview and debugger types. Code names them through these types, and
 * test/unit/contributions.test.ts checks the lists against package.json both ways: every id used
 * in code is contributed, every contributed id is used. No vscode import: the test reads it.
 */

export const COMMANDS = [
  "passthrough.newScenario",
  "passthrough.rerun",
  "passthrough.translate",
  "passthrough.translateDevice",
  "passthrough.goToStep",
  "passthrough.runToStep",
  "passthrough.revealStep",
  "passthrough.toggleRadix",
  "passthrough.showStateAfterStep",
  "passthrough.showStateBeforeStep",
  "passthrough.showLog",
  "passthrough.copyValue",
  "passthrough.restartEngine",
  "passthrough.openExamples",
  "passthrough.exportVm",
  "passthrough.showTrace",
  "passthrough.importEvidence",
  "passthrough.createScenarioFromEvidence",
  "passthrough.showEvidence",
  "passthrough.goToEvidenceLogLine",
  "passthrough.debugScenario",
  "passthrough.traceNextFault",
  "passthrough.tracePreviousFault",
  "passthrough.traceNextStep",
  "passthrough.tracePreviousStep",
] as const;
export type CommandId = (typeof COMMANDS)[number];

/** The sidebar's tree views (contributes.views.passthrough), by the engine's view name. */
export const VIEWS = {
  vms: "passthrough.vms",
  groups: "passthrough.groups",
  tables: "passthrough.tables",
  faults: "passthrough.faults",
} as const;
export type ContributedViewId = (typeof VIEWS)[keyof typeof VIEWS];

/** The activity bar container of the views. */
export const VIEW_CONTAINER = "passthrough";

/** The configuration section and its keys (contributes.configuration: `passthrough.<key>`). */
export const CONFIG_SECTION = "passthrough";
export const CONFIG_KEYS = ["radix", "rerunDelay", "settleDelay", "engineTimeout", "memoryLimit", "progressDelay"] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];

/**
 * Context keys the extension sets (setContext) for package.json's `when` and `enablement` clauses
 * and the walkthrough's `onContext:` completion events (extension/walkthrough.ts sets those).
 */
export const CONTEXT_KEYS = [
  "passthrough.hasScenario",
  "passthrough.stateAfterStep",
  /** The active scenario's cursor is on a step whose DMA faulted (the sidebar shows that step). */
  "passthrough.cursorAtFault",
  /** A DMA Trace panel is open (its commands' enablement). */
  "passthrough.traceOpen",
  /** The user selected a fault row in a DMA Trace. */
  "passthrough.traceAtFault",
  /** A passthrough debug session is running. */
  "passthrough.debugging",
  /** Evidence was imported and decoded in this window. */
  "passthrough.evidenceImported",
] as const;
export type ContextKey = (typeof CONTEXT_KEYS)[number];

/** The walkthrough's id (contributes.walkthroughs; VS Code names it `<publisher>.<name>#<id>`). */
export const WALKTHROUGH_ID = "getStarted";

/** The DMA Trace webview's viewType (activationEvents onWebviewPanel:). */
export const WEBVIEW_TYPE = "passthrough.trace";
/** The debugger type (contributes.debuggers, onDebugResolve:). */
export const DEBUGGER_TYPE = "passthrough";
/** Language ids (contributes.languages). */
export const LANGUAGES = ["passthrough", "passthrough-evidence"] as const;

/** Ids the extension uses that are not package.json contributions (a status bar item's id). */
export const OTHER_IDS = ["passthrough.status"] as const;
