/**
 * The host <-> DMA Trace webview channel. The webview asks for trace data with `request`
 * (a subset of the engine's methods; the host adds the scenario's uri and forwards them to the
 * worker) and tells the host about the user's selection; the host pushes runs and cursor moves.
 * Pages travel as typed arrays (structured clone), never as one object per row.
 */
import type { EngineMethods } from "./engine.js";
import type { RequestErrorCode } from "./diagnostics.js";
import type { RpcRequest, RpcResponse } from "./rpc.js";

/** The engine methods the webview may call (the host forwards exactly these). */
export const TRACE_METHODS = ["traceInfo", "tracePage", "traceLocate", "traceNextFault", "traceTimeline", "traceWalk", "traceSlowPath"] as const;
export type TraceMethod = (typeof TRACE_METHODS)[number];

/** The engine params of a trace method without the uri (the host knows which scenario). */
export type TraceParams<M extends TraceMethod> = Omit<EngineMethods[M]["params"], "uri">;

/** The webview's method table (protocol/rpc.ts RpcClient): the trace methods, params without the uri. */
export type TraceMethods = { [M in TraceMethod]: { params: TraceParams<M>; result: EngineMethods[M]["result"] } };

export type FromWebview =
  | { type: "ready" }
  /** A trace request (protocol/rpc.ts: numbered by the webview's RpcClient). */
  | ({ type: "request" } & RpcRequest<TraceMethod, TraceParams<TraceMethod>>)
  /** The webview no longer wants the answer to request `id` (the host drops it). */
  | { type: "cancel"; id: number }
  /** The user selected a row: move the shared cursor to its step. `fault`: the row is a DMA fault (the walkthrough's "trace at a fault"). */
  | { type: "select"; event: number; step: number; fault: boolean }
  /** The user followed a link to a step (a host mapping's guest action): move the shared cursor there and show its line. */
  | { type: "gotoStep"; step: number }
  | { type: "export"; format: "csv" | "json"; filter: EngineMethods["traceExport"]["params"]["filter"] }
  /** The hex/decimal toggle (shared with the sidebar). */
  | { type: "toggleRadix" }
  /**
   * Once per document: the first rows are in the DOM (painted in the next frame). `sinceLoad`:
   * ms since the document started loading (performance.now()); the host times the command -> first
   * rows itself, from when it gets this (TracePanel.timings). `timeOrigin`: the document's
   * performance.timeOrigin (epoch ms), to place its start on the host's clock.
   */
  | { type: "firstRows"; rows: number; sinceLoad: number; timeOrigin: number };

export type ToWebview =
  /** The answer to request `id`: its result, or the engine's (or the host's) typed error. */
  | ({ type: "reply" } & RpcResponse<RequestErrorCode>)
  /** A (re-)run of the scenario: data changed; `step` is the cursor to keep. */
  | { type: "run"; uri: string; file: string; runVersion: number; stale: boolean; step: number; steps: { line: number; op: string; summary?: string }[] }
  /** The shared cursor moved (debugger, CodeLens, trees). */
  | { type: "cursor"; step: number }
  | { type: "radix"; radix: "hex" | "dec" }
  | { type: "empty"; uri: string; message: string }
  /** A command of the palette or a keybinding (passthrough.traceNextFault, ...): move as the panel's own keys do. */
  | { type: "navigate"; action: TraceNavigation };

/** What the DMA Trace's commands ask of the panel: the next or previous fault or step (its F8/Shift+F8, ] and [ keys). */
export const TRACE_NAVIGATIONS = ["nextFault", "previousFault", "nextStep", "previousStep"] as const;
export type TraceNavigation = (typeof TRACE_NAVIGATIONS)[number];

/** What the webview keeps in getState/setState (survives hide/show and reloads). */
export interface TraceViewState {
  /** The scenario this panel shows: a restored panel reopens exactly that one. */
  uri?: string;
  filter: EngineMethods["traceInfo"]["params"]["filter"];
  compare: boolean;
  selected?: number;
  /** The split the user dragged: the walk's width (side by side) and the rows' height (one above the other), px. */
  walkWidth?: number;
  gridHeight?: number;
}

/** Rows per page of tracePage requests (the webview's paging; the host prefetches the same pages). */
export const TRACE_PAGE_ROWS = 256;

/**
 * An answer the host wrote into the document for a request the webview makes when it starts:
 * the webview takes it instead of asking (once), when method and params are the same
 * (requestKey). Typed arrays travel as plain arrays (JSON).
 */
export interface PrefetchedReply {
  type: "prefetched";
  method: TraceMethod;
  params: object;
  result: unknown;
}

/**
 * The messages the host writes into the webview's document when it creates it (the body's
 * data-initial attribute, JSON): the answers to the webview's first requests, then the radix
 * and the run it would post after "ready". The webview renders its first rows while its script
 * starts instead of after two host round trips; the messages posted after "ready" still come (a
 * run with the same runVersion changes nothing).
 */
export type InitialMessages = (ToWebview | PrefetchedReply)[];

/** A request's identity: its method and its params as JSON with sorted keys. */
export function requestKey(method: string, params: object): string {
  const canon = (v: unknown): unknown =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
  return `${method} ${JSON.stringify(canon(params))}`;
}

/** Text for a double-quoted HTML attribute value: the five characters HTML gives meaning to, escaped. */
export function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * What a scenario is called in titles and labels, as VS Code's tabs name its document: the last
 * segment of the uri's path, decoded ("Untitled-1" for `untitled:Untitled-1`, "a b.passthrough.yaml"
 * for `file:///w/a%20b.passthrough.yaml`), without query or fragment.
 */
export function scenarioDisplayName(uri: string): string {
  const m = /^[a-zA-Z][\w+.-]*:(?:\/\/[^/?#]*)?([^?#]*)/.exec(uri);
  const path = m ? m[1]! : uri;
  const last = path.split("/").filter(Boolean).pop() ?? "";
  let name = last;
  try {
    name = decodeURIComponent(last);
  } catch {
    // a stray % stays as it is
  }
  return name || uri;
}
