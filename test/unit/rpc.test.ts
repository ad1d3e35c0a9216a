// The one request/response helper of both channels (src/protocol/rpc.ts): ids, the pending map,
// typed results and errors, cancellation, a dead channel; and the engine's worker channel driven
// end to end through it (the client as the extension uses it, serveEngine as the worker runs it).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { serveEngine } from "../../src/engine/server.js";
import type { EngineMethods, EngineResponse } from "../../src/protocol/engine.js";
import type { RequestErrorCode } from "../../src/protocol/diagnostics.js";
import { answer, CancellationSource, errorData, RpcClient, RpcError, type RpcRequest } from "../../src/protocol/rpc.js";

interface Echo {
  echo: { params: { text: string }; result: string };
  twice: { params: { n: number }; result: number };
}

function client() {
  const sent: RpcRequest[] = [];
  const cancels: number[] = [];
  const c = new RpcClient<Echo, "boom" | "cancelled" | "restarted">({ send: (r) => sent.push(r), sendCancel: (id) => cancels.push(id), now: () => 42 });
  return { c, sent, cancels };
}

describe("RpcClient", () => {
  it("numbers requests, settles each by its id in any order, with the typed result or error", async () => {
    const { c, sent } = client();
    const a = c.request("echo", { text: "hi" });
    const b = c.request("twice", { n: 2 });
    expect(sent).toEqual([
      { id: 1, method: "echo", params: { text: "hi" } },
      { id: 2, method: "twice", params: { n: 2 } },
    ]);
    expect([...c.waiting()]).toEqual([expect.objectContaining({ method: "echo", sentAt: 42 }), expect.objectContaining({ method: "twice", sentAt: 42 })]);
    expect(c.receive({ id: 2, ok: true, result: 4 })).toBe(true);
    expect(c.receive({ id: 1, ok: false, error: { code: "boom", message: "no" } })).toBe(true);
    await expect(b).resolves.toBe(4);
    const err = await a.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err).toMatchObject({ code: "boom", message: "no" });
    expect(c.size).toBe(0);
    // An answer nobody waits for (a duplicate, another client's) changes nothing.
    expect(c.receive({ id: 1, ok: true, result: "late" })).toBe(false);
  });

  it("a cancelled request rejects at once, the peer is told, and its late answer is dropped", async () => {
    const { c, cancels } = client();
    const src = new CancellationSource();
    const p = c.request("echo", { text: "slow" }, src.token);
    const other = c.request("echo", { text: "kept" });
    src.cancel();
    await expect(p).rejects.toMatchObject({ code: "cancelled" });
    expect(cancels).toEqual([1]);
    expect(c.receive({ id: 1, ok: true, result: "slow" })).toBe(false);
    expect(c.receive({ id: 2, ok: true, result: "kept" })).toBe(true);
    await expect(other).resolves.toBe("kept");
    // Already cancelled: nothing is sent.
    await expect(c.request("echo", { text: "x" }, src.token)).rejects.toMatchObject({ code: "cancelled" });
    expect(c.size).toBe(0);
  });

  it("a dead channel rejects every pending request with one code", async () => {
    const { c } = client();
    const all = [c.request("echo", { text: "a" }), c.request("twice", { n: 1 })];
    c.rejectAll("restarted", "the worker exited");
    for (const p of all) await expect(p).rejects.toMatchObject({ code: "restarted", message: "the worker exited" });
    expect(c.size).toBe(0);
  });

  it("answers and settles any interleaving of requests, answers and cancellations exactly once", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom("answer", "fail", "cancel", "stray"), fc.nat(9)), { maxLength: 30 }), async (ops) => {
        const { c } = client();
        const sources = Array.from({ length: 10 }, () => new CancellationSource());
        const settled: string[] = [];
        const ps = sources.map((s, i) =>
          c.request("twice", { n: i }, s.token).then(
            (v) => void settled.push(`${i}:ok:${v}`),
            (e: RpcError) => void settled.push(`${i}:${e.code}`),
          ),
        );
        for (const [op, k] of ops) {
          const id = k + 1;
          if (op === "answer") c.receive({ id, ok: true, result: k * 2 });
          else if (op === "fail") c.receive({ id, ok: false, error: { code: "boom", message: "x" } });
          else if (op === "cancel") sources[k]!.cancel();
          else c.receive({ id: 100 + k, ok: true, result: 0 });
        }
        c.rejectAll("restarted", "end");
        await Promise.all(ps);
        expect(settled.length).toBe(10);
        expect(new Set(settled.map((s) => s.split(":")[0])).size).toBe(10);
      }),
      { numRuns: 200 },
    );
  });
});

describe("answer", () => {
  const errorOf = (e: unknown) => errorData(e, ["bad-params", "internal"] as const, "internal");
  it("turns a value, a typed throw, any other throw and a promise into the response", async () => {
    expect(answer(1, () => 5, errorOf)).toEqual({ id: 1, ok: true, result: 5 });
    expect(
      answer(
        2,
        () => {
          throw new RpcError("bad-params", "no such device");
        },
        errorOf,
      ),
    ).toEqual({ id: 2, ok: false, error: { code: "bad-params", message: "no such device" } });
    expect(
      answer(
        3,
        () => {
          throw new TypeError("x is undefined");
        },
        errorOf,
      ),
    ).toEqual({ id: 3, ok: false, error: { code: "internal", message: "x is undefined" } });
    await expect(answer(4, () => Promise.resolve("later"), errorOf)).resolves.toEqual({ id: 4, ok: true, result: "later" });
    await expect(answer(5, () => Promise.reject(new RpcError("cancelled", "gone")), errorOf)).resolves.toEqual({ id: 5, ok: false, error: { code: "internal", message: "gone" } });
  });
});

describe("the engine channel through the helper", () => {
  const text = readFileSync(join(__dirname, "..", "..", "examples", "healthy-nic.passthrough.yaml"), "utf8");
  it("client and worker server speak one wire format: results, typed errors, transferred rows", async () => {
    let toWorker: (m: unknown) => void = () => {};
    const transfers: ArrayBuffer[][] = [];
    const rpc = new RpcClient<EngineMethods, RequestErrorCode>({ send: (r) => queueMicrotask(() => toWorker(structuredClone(r))) });
    serveEngine({
      post: (m, transfer) => {
        transfers.push(transfer ?? []);
        queueMicrotask(() => rpc.receive(structuredClone(m) as EngineResponse));
      },
      onMessage: (l) => (toWorker = l),
    });
    await expect(rpc.request("ping", {})).resolves.toBe("pong");
    const st = await rpc.request("update", { uri: "u", version: 1, text });
    expect(st.steps.length).toBeGreaterThan(0);
    const rows = await rpc.request("rows", { uri: "u", start: 0, count: 3 });
    expect(rows.count).toBe(3);
    expect(transfers[transfers.length - 1]!.length).toBe(Object.keys(rows.columns).length);
    const err = await rpc.request("setCursor", { uri: "nope", step: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err).toMatchObject({ code: "no-session", message: "no scenario open for nope" });
    await expect(rpc.request("translate", { uri: "u", device: "99:00.0", iova: "0", write: false })).rejects.toMatchObject({ code: "bad-params" });
  });
});
