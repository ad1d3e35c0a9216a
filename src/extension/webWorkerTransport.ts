/**
 * The engine worker in a browser (VS Code for the Web): a Web Worker behind the EngineTransport the
 * supervisor (engineClient.ts) drives. No `vscode` or Node import: unit-tested with a stand-in Worker.
 */
import type { EngineTransport } from "./platformApi.js";

/** The browser's Worker, as much of it as the transport uses (the extension's lib is Node's). */
export interface BrowserWorker {
  postMessage(message: unknown): void;
  terminate(): void;
  addEventListener(type: "message", listener: (e: { data: unknown }) => void): void;
  addEventListener(type: "error" | "messageerror", listener: (e: { message?: string; preventDefault(): void }) => void): void;
}
export type BrowserWorkerConstructor = new (url: string, options?: { name?: string }) => BrowserWorker;

/** Shared memory needs a cross-origin isolated page (COOP/COEP); most workbenches are not. */
export function canShareMemory(g: { SharedArrayBuffer?: unknown; crossOriginIsolated?: boolean } = globalThis): boolean {
  return typeof g.SharedArrayBuffer === "function" && g.crossOriginIsolated === true;
}

/** The browser's globals the transport uses: Worker, and Blob URLs for a script that has no http(s) URL. */
export interface WebWorkerHost {
  Worker: BrowserWorkerConstructor;
  /** The worker script's text, for a location the browser cannot load as a worker directly. */
  loadScript(location: string): Promise<string>;
  blobUrl(text: string): string;
}

/**
 * The browser's own Worker, fetch and Blob URLs; `readFile` reads the script where fetch cannot
 * (the web platform passes vscode.workspace.fs, so this module needs no `vscode` import).
 */
export const browserWorkerHost = (readFile: (location: string) => Promise<Uint8Array>): WebWorkerHost => {
  const g = globalThis as unknown as { Worker: BrowserWorkerConstructor; fetch(url: string): Promise<{ ok: boolean; status: number; text(): Promise<string> }>; Blob: new (parts: string[], o: { type: string }) => unknown; URL: { createObjectURL(b: unknown): string } };
  return {
    Worker: g.Worker,
    loadScript: async (location) => {
      // The web extension host's fetch resolves the extension's own (remote) URIs; where it cannot,
      // the extension's files are read as any workspace file is.
      try {
        const r = await g.fetch(location);
        if (r.ok) return await r.text();
      } catch {
        /* fall through */
      }
      return new TextDecoder().decode(await readFile(location));
    },
    blobUrl: (text) => g.URL.createObjectURL(new g.Blob([text], { type: "application/javascript" })),
  };
};

/**
 * The engine in a browser Web Worker. An http(s) location starts at once; another scheme (the
 * `vscode-remote:` of an extension installed on a code-server, which the web extension host
 * refuses to start workers from) is loaded as text and started from a Blob URL. Messages posted
 * before the worker exists wait in order.
 */
export function webWorkerTransport(location: string, host: WebWorkerHost): EngineTransport {
  let w: BrowserWorker | undefined;
  let dead = false;
  const queue: unknown[] = [];
  const listeners: ((m: unknown) => void)[] = [];
  let onDeath: ((why: string) => void) | undefined;
  const die = (why: string) => {
    if (dead) return;
    dead = true;
    // A browser worker survives an uncaught error; the supervisor treats it as a crash, like Node.
    w?.terminate();
    onDeath?.(why);
  };
  const start = (url: string) => {
    if (dead) return;
    const worker = new host.Worker(url, { name: "Passthrough simulation engine" });
    w = worker;
    worker.addEventListener("message", (e) => {
      for (const l of listeners) l(e.data);
    });
    worker.addEventListener("error", (e) => {
      e.preventDefault();
      die(`the simulation worker crashed: ${e.message ?? "error"}`);
    });
    worker.addEventListener("messageerror", () => die("the simulation worker sent a message that could not be read"));
    for (const m of queue.splice(0)) worker.postMessage(m);
  };
  if (/^https?:/i.test(location)) start(location);
  else {
    host.loadScript(location).then(
      (text) => start(host.blobUrl(text)),
      (e: unknown) => die(`the simulation worker could not be loaded from ${location}: ${e instanceof Error ? e.message : String(e)}`),
    );
  }
  return {
    sharedMemory: canShareMemory(),
    post: (m) => {
      if (w) w.postMessage(m);
      else if (!dead) queue.push(m);
    },
    onMessage: (listener) => void listeners.push(listener),
    onDeath: (listener) => {
      onDeath = listener;
    },
    terminate: () => {
      dead = true;
      w?.terminate();
    },
  };
}

