/**
 * The channel to the extension host, and the only module that talks to it: messages out
 * (postMessage), requests and their replies, the answers the host wrote into the document
 * (InitialMessages), and the state VS Code keeps for the panel (getState/setState).
 */
import { requestKey, type FromWebview, type InitialMessages, type ToWebview, type TraceMethod, type TraceMethods, type TraceViewState } from "../../src/protocol/webview.js";
import { RpcClient, RpcError, type CancellationToken } from "../../src/protocol/rpc.js";
import type { RequestErrorCode } from "../../src/protocol/diagnostics.js";

declare function acquireVsCodeApi(): { postMessage(m: FromWebview): void; getState(): TraceViewState | undefined; setState(s: TraceViewState): void };

type Reply = Extract<ToWebview, { type: "reply" }>;

export class HostChannel {
  private readonly api = acquireVsCodeApi();
  /** Ids, pending requests, typed errors (protocol/rpc.ts, the same helper as the host's worker channel). */
  private readonly rpc = new RpcClient<TraceMethods, RequestErrorCode>({ send: (r) => this.api.postMessage({ type: "request", ...r }), sendCancel: (id) => this.api.postMessage({ type: "cancel", id }) });
  /** Answers the host wrote into the document (InitialMessages), by requestKey: each used once. */
  private readonly prefetched = new Map<string, unknown>();
  /** True while the document's messages are taken (start). */
  private startingUp = false;

  /** The state VS Code kept for this panel (a reload, a hidden panel shown again). */
  saved(): TraceViewState | undefined {
    return this.api.getState();
  }

  persist(state: TraceViewState): void {
    this.api.setState(state);
  }

  post(m: FromWebview): void {
    this.api.postMessage(m);
  }

  /** `token`: cancelling it tells the host, which stops the worker's work on it; the promise rejects with "cancelled". */
  request<T>(method: TraceMethod, params: object, token?: CancellationToken): Promise<T> {
    if (this.prefetched.size) {
      const key = requestKey(method, params);
      if (this.prefetched.has(key)) {
        const result = this.prefetched.get(key);
        this.prefetched.delete(key);
        return Promise.resolve(result as T);
      }
    }
    return this.rpc.request(method, params as never, token) as Promise<T>;
  }

  /** Settles the request a reply answers. */
  reply(m: Reply): void {
    this.rpc.receive(m);
  }

  /** A new run: answers prefetched for the document's run are not this run's (kept while the document's own messages are taken). */
  newRun(): void {
    if (!this.startingUp) this.prefetched.clear();
  }

  /**
   * Says "ready", then takes what the host wrote into the document (InitialMessages): the answers
   * to the first requests, then the run, so that the first rows are drawn now, not two host round
   * trips later (the same run comes again as a message). Prefetched answers nobody asked for are
   * dropped after the first rows, so that a later request with the same params asks the host.
   */
  start(dispatch: (m: ToWebview) => void): void {
    window.addEventListener("message", (ev: MessageEvent<ToWebview>) => dispatch(ev.data));
    this.post({ type: "ready" });
    this.startingUp = true;
    for (const m of initialMessages()) {
      if (m.type === "prefetched") this.prefetched.set(requestKey(m.method, m.params), m.result);
      else dispatch(m);
    }
    this.startingUp = false;
    if (this.prefetched.size) requestAnimationFrame(() => setTimeout(() => this.prefetched.clear()));
  }
}

function initialMessages(): InitialMessages {
  try {
    const parsed: unknown = JSON.parse(document.body.dataset.initial ?? "[]");
    return Array.isArray(parsed) ? (parsed as InitialMessages) : [];
  } catch {
    return []; // the messages posted after "ready" carry the same
  }
}

/** A request the view itself cancelled (superseded by a newer one): not an error to show. */
export function isCancelled(e: unknown): boolean {
  return e instanceof RpcError && e.code === "cancelled";
}
