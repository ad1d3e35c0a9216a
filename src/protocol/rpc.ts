/**
 * One typed request/response helper for both channels: host <-> engine worker (EngineMethods)
 * and host <-> DMA Trace webview (the trace subset). Each request gets an id; the client keeps
 * the pending map and settles each promise with the method's typed result or a typed RpcError
 * (a code from protocol/diagnostics.ts and a message); a request can be cancelled (its promise
 * rejects with "cancelled" at once, the peer is told, and a late answer is dropped); when the
 * channel dies every pending request is rejected with one code. The server side turns a handler's
 * result or throw into the response. The envelope (a bare object for the worker, `type: "reply"`
 * for the webview) is the channel's; this module knows only ids, methods, results and errors.
 * Pure: no DOM, no Node (it runs in the host, the worker and the webview).
 */

/** A method table (an interface like EngineMethods): each method's params and result. */
export type MethodTable<T> = { [K in keyof T]: { params: unknown; result: unknown } };

export interface RpcRequest<M extends string = string, P = unknown> {
  id: number;
  method: M;
  params: P;
}

/** The error half of a response: what the peer's handler failed with. */
export interface RpcErrorData<C extends string = string> {
  code: C;
  message: string;
}

export type RpcResponse<C extends string = string> = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: RpcErrorData<C> };

/** A request that failed: the peer's typed error, or the channel's (cancelled, restarted). */
export class RpcError<C extends string = string> extends Error {
  constructor(
    readonly code: C,
    message: string,
  ) {
    super(message);
  }
}

/** Asked to stop: what a caller hands `request` to be able to cancel it. */
export interface CancellationToken {
  readonly isCancellationRequested: boolean;
  /** Calls `listener` once when cancellation is requested; the returned function unsubscribes. */
  onCancellationRequested(listener: () => void): () => void;
}

/** Makes a CancellationToken and cancels it. */
export class CancellationSource {
  private cancelled = false;
  private readonly listeners = new Set<() => void>();
  readonly token: CancellationToken;

  constructor() {
    const isCancelled = () => this.cancelled;
    this.token = {
      get isCancellationRequested() {
        return isCancelled();
      },
      onCancellationRequested: (listener) => {
        if (this.cancelled) {
          listener();
          return () => undefined;
        }
        this.listeners.add(listener);
        return () => void this.listeners.delete(listener);
      },
    };
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    const all = [...this.listeners];
    this.listeners.clear();
    for (const l of all) l();
  }
}

interface Pending {
  method: string;
  sentAt: number;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  unsubscribe?: () => void;
}

export interface RpcClientOptions<T extends MethodTable<T>> {
  /** Puts a request on the wire (with the channel's envelope). */
  send(request: RpcRequest<keyof T & string, T[keyof T & string]["params"]>): void;
  /** Tells the peer a request was cancelled (optional: a peer may not care). */
  sendCancel?(id: number): void;
  /** When a request was sent, for a watchdog (default: 0, no clock). */
  now?(): number;
}

/** The requesting side of a channel, typed by its method table and its error codes. */
export class RpcClient<T extends MethodTable<T>, C extends string = string> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly opts: RpcClientOptions<T>) {}

  /** Sends `method` and resolves with its result; rejects with an RpcError<C | "cancelled">. */
  request<M extends keyof T & string>(method: M, params: T[M]["params"], token?: CancellationToken): Promise<T[M]["result"]> {
    if (token?.isCancellationRequested) return Promise.reject(new RpcError("cancelled", `${method} was cancelled`));
    const id = this.nextId++;
    return new Promise<T[M]["result"]>((resolve, reject) => {
      const p: Pending = { method, sentAt: this.opts.now?.() ?? 0, resolve, reject };
      this.pending.set(id, p);
      if (token) {
        p.unsubscribe = token.onCancellationRequested(() => {
          if (this.pending.get(id) !== p) return;
          this.pending.delete(id);
          this.opts.sendCancel?.(id);
          reject(new RpcError("cancelled", `${method} was cancelled`));
        });
      }
      this.opts.send({ id, method, params });
    });
  }

  /** Settles the request a response answers; false when none is pending (cancelled, or not ours). */
  receive(response: RpcResponse<C>): boolean {
    const p = this.pending.get(response.id);
    if (!p) return false;
    this.pending.delete(response.id);
    p.unsubscribe?.();
    if (response.ok) p.resolve(response.result);
    else p.reject(new RpcError(response.error.code, response.error.message));
    return true;
  }

  /** The channel is gone (a dead worker, a closed panel): every pending request fails with `code`. */
  rejectAll(code: C, message: string): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      p.unsubscribe?.();
      p.reject(new RpcError(code, message));
    }
  }

  /** The requests waiting for an answer: their method and when they were sent. */
  waiting(): Iterable<{ method: string; sentAt: number }> {
    return this.pending.values();
  }

  get size(): number {
    return this.pending.size;
  }
}

/**
 * The answering side: runs a request's handler and makes the response, synchronously when the
 * handler returns a value, as a promise when it returns one. A throw becomes `{ ok: false }` with
 * the error `errorOf` makes of it (a typed failure keeps its code; anything else is "internal").
 */
export function answer<C extends string>(id: number, run: () => unknown, errorOf: (e: unknown) => RpcErrorData<C>): RpcResponse<C> | Promise<RpcResponse<C>> {
  let result: unknown;
  try {
    result = run();
  } catch (e) {
    return { id, ok: false, error: errorOf(e) };
  }
  if (isThenable(result)) return Promise.resolve(result).then((r): RpcResponse<C> => ({ id, ok: true, result: r }), (e: unknown): RpcResponse<C> => ({ id, ok: false, error: errorOf(e) }));
  return { id, ok: true, result };
}

/** The error data of anything thrown: an RpcError keeps its code when `codes` has it, else `fallback`. */
export function errorData<C extends string>(e: unknown, codes: readonly C[], fallback: C): RpcErrorData<C> {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof RpcError && (codes as readonly string[]).includes((e as RpcError).code)) return { code: e.code as C, message };
  return { code: fallback, message };
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}
