// The worker transport as the extension uses it: requests in, responses out, typed errors on the
// wire, trace rows as transferred ArrayBuffers (never one object per event).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { serveEngine } from "../../src/engine/server.js";
import type { EngineResponse } from "../../src/protocol/engine.js";

function endpoint() {
  let listener: (m: unknown) => void = () => {};
  const out: { message: EngineResponse; transfer: ArrayBuffer[] }[] = [];
  serveEngine({ post: (message, transfer) => out.push({ message: message as EngineResponse, transfer: transfer ?? [] }), onMessage: (l) => (listener = l) });
  return { send: (m: unknown) => listener(m), out };
}

const text = readFileSync(join(__dirname, "..", "..", "examples", "healthy-nic.passthrough.yaml"), "utf8");

describe("engine protocol over an endpoint", () => {
  it("answers each request with its id; rows come as transferable column buffers", () => {
    const e = endpoint();
    e.send({ init: true, cancel: new SharedArrayBuffer(64) });
    e.send({ id: 1, method: "update", params: { uri: "u", version: 1, text } });
    e.send({ id: 2, method: "rows", params: { uri: "u", start: 0, count: 5 } });
    expect(e.out.map((o) => o.message.id)).toEqual([1, 2]);
    const rows = e.out[1]!;
    expect(rows.message.ok).toBe(true);
    const result = (rows.message as { result: { count: number; columns: Record<string, ArrayBufferView> } }).result;
    expect(result.count).toBe(5);
    const buffers = Object.values(result.columns).map((c) => c.buffer);
    expect(rows.transfer.length).toBe(buffers.length);
    for (const b of buffers) expect(rows.transfer).toContain(b);
    // The response is structured-clone safe (what postMessage requires).
    expect(() => structuredClone(e.out[0]!.message)).not.toThrow();
  });

  it("turns failures into typed errors instead of throwing", () => {
    const e = endpoint();
    e.send({ id: 7, method: "setCursor", params: { uri: "nope", step: 1 } });
    e.send({ id: 8, method: "bogus", params: {} });
    expect(e.out[0]!.message).toEqual({ id: 7, ok: false, error: { code: "no-session", message: "no scenario open for nope" } });
    expect(e.out[1]!.message).toMatchObject({ id: 8, ok: false, error: { code: "bad-params" } });
  });
});
