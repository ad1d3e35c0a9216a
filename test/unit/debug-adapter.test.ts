// The debug adapter driven over the Debug Adapter Protocol in-process, with the real engine
// behind it: launch, breakpoints (conditional, hit count, logpoint), step, step in, step back,
// reverse continue, exception and data breakpoints, variables, evaluate, edit while paused.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { DebugProtocol } from "@vscode/debugprotocol";
import { PassthroughDebugSession, type EngineLink } from "../../src/debug/adapter.js";
import { EngineServer } from "../../src/engine/server.js";
import type { SessionState } from "../../src/protocol/engine.js";

const examples = join(__dirname, "..", "..", "examples");
const read = (name: string) => readFileSync(join(examples, `${name}.passthrough.yaml`), "utf8");

class Harness {
  readonly server = new EngineServer();
  readonly session: PassthroughDebugSession;
  readonly events: DebugProtocol.Event[] = [];
  private seq = 1;
  private waiting = new Map<number, (r: DebugProtocol.Response) => void>();
  private eventWaiters: { name: string; ok: (e: DebugProtocol.Event) => void }[] = [];
  private runListeners: ((uri: string, s: SessionState) => void)[] = [];
  cursor = -1;
  version = 1;
  /** When set, engine requests of these methods reject with this error (a worker restart, a closed scenario). */
  failing?: { methods: string[]; error: Error };
  /** When set, debugScan requests wait here until the test releases them (in any order). */
  gate?: (() => void)[];

  constructor(readonly texts: Record<string, string>) {
    const link: EngineLink = {
      request: async (method, params) => {
        if (this.failing?.methods.includes(method)) throw this.failing.error;
        if (this.gate && method === "debugScan") await new Promise<void>((ok) => this.gate!.push(ok));
        return this.server.handle(method, params);
      },
      open: async (program) => {
        const text = this.texts[program];
        if (text === undefined) return { error: `cannot open ${program}` };
        return { uri: program, state: this.server.handle("update", { uri: program, version: this.version, text }) };
      },
      setCursor: (_uri, step) => {
        this.cursor = step;
      },
      onDidRun: (l) => {
        this.runListeners.push(l);
        return { dispose: () => undefined };
      },
    };
    this.session = new PassthroughDebugSession(link);
    this.session.onDidSendMessage((m) => {
      const msg = m as DebugProtocol.ProtocolMessage;
      if (msg.type === "response") this.waiting.get((msg as DebugProtocol.Response).request_seq)?.(msg as DebugProtocol.Response);
      if (msg.type === "event") {
        const e = msg as DebugProtocol.Event;
        this.events.push(e);
        const i = this.eventWaiters.findIndex((w) => w.name === e.event);
        if (i >= 0) this.eventWaiters.splice(i, 1)[0]!.ok(e);
      }
    });
  }

  request<T extends DebugProtocol.Response = DebugProtocol.Response>(command: string, args?: unknown): Promise<T> {
    const seq = this.seq++;
    const p = new Promise<T>((ok) => this.waiting.set(seq, ok as (r: DebugProtocol.Response) => void));
    this.session.handleMessage({ seq, type: "request", command, arguments: args } as DebugProtocol.Request);
    return p;
  }

  event<T extends DebugProtocol.Event = DebugProtocol.Event>(name: string): Promise<T> {
    return new Promise((ok) => this.eventWaiters.push({ name, ok: ok as (e: DebugProtocol.Event) => void }));
  }

  /** Sends a movement request and resolves with the stopped event it causes. */
  async move(command: string, args: unknown = { threadId: 1 }): Promise<DebugProtocol.StoppedEvent> {
    const stopped = this.event<DebugProtocol.StoppedEvent>("stopped");
    const r = await this.request(command, args);
    expect(r.success, r.message).toBe(true);
    return stopped;
  }

  async launch(program: string, extra: Record<string, unknown> = {}, setup?: () => Promise<void>): Promise<DebugProtocol.StoppedEvent> {
    await this.request("initialize", { adapterID: "passthrough", linesStartAt1: true, columnsStartAt1: true });
    const initialized = this.event("initialized");
    const stopped = this.event<DebugProtocol.StoppedEvent>("stopped");
    const launched = this.request("launch", { scenario: program, ...extra });
    await initialized;
    await setup?.();
    await this.request("configurationDone");
    expect((await launched).success).toBe(true);
    return stopped;
  }

  outputs(category?: string): string[] {
    return this.events.filter((e) => e.event === "output" && (category === undefined || (e.body as { category?: string }).category === category)).map((e) => (e.body as { output: string }).output);
  }

  async line(): Promise<number> {
    const st = await this.request<DebugProtocol.StackTraceResponse>("stackTrace", { threadId: 1 });
    return st.body.stackFrames[0]!.line;
  }

  async eval(expression: string): Promise<DebugProtocol.EvaluateResponse> {
    return this.request<DebugProtocol.EvaluateResponse>("evaluate", { expression, frameId: 0, context: "repl" });
  }

  async scopes(): Promise<Record<string, DebugProtocol.Variable[]>> {
    const sc = await this.request<DebugProtocol.ScopesResponse>("scopes", { frameId: 0 });
    const out: Record<string, DebugProtocol.Variable[]> = {};
    for (const s of sc.body.scopes) out[s.name] = (await this.request<DebugProtocol.VariablesResponse>("variables", { variablesReference: s.variablesReference })).body.variables;
    return out;
  }

  edit(text: string): void {
    this.texts["s.passthrough.yaml"] = text;
    this.version++;
    const st = this.server.handle("update", { uri: "s.passthrough.yaml", version: this.version, text });
    for (const l of this.runListeners) l("s.passthrough.yaml", st);
  }
}

const P = "s.passthrough.yaml";
const text = read("dma-after-unmap");
const lines = text.split("\n");
/** 1-based line of the n-th (1-based) workload item. */
const stepLine = (n: number) => {
  const w = lines.indexOf("workload:");
  const items = lines.map((l, i) => [l, i] as const).filter(([l, i]) => i > w && /^  - [a-z-]+:/.test(l));
  return items[n - 1]![1] + 1;
};

describe("passthrough debug adapter", () => {
  it("launches stopped on entry, steps, steps back and shows the step's line", async () => {
    const h = new Harness({ [P]: text });
    const entry = await h.launch(P, { stopOnEntry: true });
    expect(entry.body.reason).toBe("entry");
    expect(await h.line()).toBe(stepLine(1));
    await h.move("next");
    expect(await h.line()).toBe(stepLine(2));
    expect(h.cursor).toBe(1);
    await h.move("next");
    await h.move("stepBack");
    expect(await h.line()).toBe(stepLine(2));
    const back = await h.move("stepBack");
    expect(back.body.reason).toBe("step");
    expect(await h.line()).toBe(stepLine(1));
  });

  it("breakpoints: verified on step lines, moved to the next step from other lines; continue and reverse continue", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, {}, async () => {
      // A step's own line, its `expect:` line (same step), and a line above the workload (moved to step 1).
      const r = await h.request<DebugProtocol.SetBreakpointsResponse>("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(3) }, { line: stepLine(3) + 1 }, { line: 2 }] });
      expect(r.body.breakpoints.map((b) => [b.verified, b.line])).toEqual([[true, stepLine(3)], [true, stepLine(3)], [true, stepLine(1)]]);
    });
    // The launch continues from before step 1, so the breakpoint on step 1 (moved from line 2) hits first.
    expect(await h.line()).toBe(stepLine(1));
    const s3 = await h.move("continue");
    expect(s3.body.reason).toBe("breakpoint");
    expect(s3.body.hitBreakpointIds?.length).toBe(2);
    expect(await h.line()).toBe(stepLine(3));
    const end = await h.move("continue");
    expect(end.body.description).toMatch(/End of the workload/);
    const rev = await h.move("reverseContinue");
    expect(rev.body.reason).toBe("breakpoint");
    expect(await h.line()).toBe(stepLine(3));
  });

  it("conditional breakpoints stop at the matching translation; hit counts and logpoints", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, {}, async () => {
      await h.request("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(3), condition: "write && iova >= 0x102000" }, { line: stepLine(4), logMessage: "read of {iova} by {device}" }] });
    });
    expect((await h.eval("iova")).body.result).toBe("0x102000 (1056768)");
    expect((await h.eval("write")).body.result).toBe("true");
    await h.move("continue"); // every matching translation is a hit: the next one
    expect((await h.eval("iova")).body.result).toBe("0x103000 (1060864)");
    const fin = await h.move("continue");
    expect(fin.body.description).toMatch(/End of the workload/);
    const out = h.events.filter((e) => e.event === "output").map((e) => (e.body as { output: string }).output).join("");
    expect(out).toContain("read of 0x102000 (1056768) by \"04:00.0\"");

    const h2 = new Harness({ [P]: text });
    await h2.launch(P, {}, async () => {
      await h2.request("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(3), condition: "write", hitCondition: "3" }] });
    });
    expect((await h2.eval("event")).body.result).toMatch(/^0x[0-9a-f]+ \(\d+\)$/);
    expect((await h2.eval("iova")).body.result).toBe("0x102000 (1056768)"); // the third write of the step
  });

  it("exception breakpoints stop at the fault with the decoded reason; Variables show the failing walk", async () => {
    const h = new Harness({ [P]: text });
    const s = await h.launch(P, { stopOnFault: true });
    expect(s.body.reason).toBe("exception");
    expect(s.body.text).toMatch(/0x05 PTE Write access is not set/);
    expect(await h.line()).toBe(stepLine(6));
    const sc = await h.scopes();
    expect(Object.keys(sc)).toEqual(expect.arrayContaining(["Step", "Translation"]));
    const walk = sc.Translation!.find((v) => v.name === "walk")!;
    expect(walk.value).toMatch(/fault 0x05/);
    const stages = (await h.request<DebugProtocol.VariablesResponse>("variables", { variablesReference: walk.variablesReference })).body.variables;
    expect(stages.map((v) => v.name)).toEqual(["root[04]", "context[00.0]", "L4[0]", "L3[0]", "L2[0]", "L1[258]"]);
    expect(stages.at(-1)!.value).toMatch(/not present/);
    const regs = sc["IOMMU registers (at this event, before the driver's fault handler)"]!;
    expect(regs.find((v) => v.name === "counters")!.value).toMatch(/, 1 faults$/);
    // Hex formatting of numbers on request.
    const dec = (await h.request<DebugProtocol.VariablesResponse>("variables", { variablesReference: (await h.request<DebugProtocol.ScopesResponse>("scopes", { frameId: 0 })).body.scopes[0]!.variablesReference, format: { hex: true } })).body.variables;
    expect(dec.find((v) => v.name === "step")!.value).toBe("0x6");
  });

  it("a data breakpoint on a mapping stops where the mapping changes (the unmap)", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, {}, async () => {
      await h.request("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(3) }] });
    });
    // Step 1 has a breakpoint? No: step 3 does. Step into its first translation.
    await h.move("stepIn");
    const sc = await h.request<DebugProtocol.ScopesResponse>("scopes", { frameId: 0 });
    const tr = sc.body.scopes.find((s) => s.name === "Translation")!;
    const info = await h.request<DebugProtocol.DataBreakpointInfoResponse>("dataBreakpointInfo", { variablesReference: tr.variablesReference, name: "mapping" });
    expect(info.body.dataId).toBe("map|04:00.0|0x100000");
    await h.request("setDataBreakpoints", { breakpoints: [{ dataId: info.body.dataId }] });
    await h.request("setBreakpoints", { source: { path: P }, breakpoints: [] });
    const s = await h.move("continue");
    expect(s.body.reason).toBe("data breakpoint");
    expect(s.body.text, s.body.text).toMatch(/changed in step 5 \(guest-unmap/);
    expect(await h.line()).toBe(stepLine(6));
    const back = await h.move("reverseContinue");
    expect(back.body.reason).toBe("data breakpoint"); // the guest-map that created it
    expect(await h.line()).toBe(stepLine(3));
  });

  it("evaluates console commands and answers a bad expression with an error message", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, { stopOnEntry: true });
    await h.move("next");
    await h.move("next");
    const t = await h.eval("translate 04:00.0 0x100000 w");
    expect(t.body.result).toMatch(/^IOVA 0x100000 -> HPA 0x[0-9a-f]+ \(4 KiB page, walk\)$/);
    expect(t.body.variablesReference).toBeGreaterThan(0);
    expect((await h.eval("pte 04:00.0 0x100000")).body.result).toMatch(/^L1\[256\] @ 0x[0-9a-f]+ = 0x[0-9a-f]{16}$/);
    expect((await h.eval("groups")).body.result).toBe("2 IOMMU groups");
    expect((await h.eval('op == "dma" && step == 3')).body.result).toBe("true");
    const bad = await h.eval("iova >= ");
    expect(bad.success).toBe(false);
    expect(bad.message).toMatch(/ends too early/);
    const unknown = await h.eval("nonsense");
    expect(unknown.success).toBe(false);
    expect(unknown.message).toMatch(/unknown name "nonsense"; known here:/);
  });

  it("a step inserted above while paused moves the position and the breakpoints with their steps", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, { stopOnEntry: true });
    const bp = await h.request<DebugProtocol.SetBreakpointsResponse>("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(6) }] });
    expect(bp.body.breakpoints[0]!.line).toBe(stepLine(6));
    await h.move("next");
    await h.move("next");
    expect(await h.line()).toBe(stepLine(3));
    const stopped = h.event<DebugProtocol.StoppedEvent>("stopped");
    const moved = h.event<DebugProtocol.BreakpointEvent>("breakpoint");
    // One line inserted as the first workload item: every step moves one line (and one index) down.
    const edited = text.replace("workload:\n", "workload:\n  - wait: 1ms\n");
    h.edit(edited);
    await stopped;
    const at = (n: number) => {
      const ls = edited.split("\n");
      const w = ls.indexOf("workload:");
      return ls.map((l, i) => [l, i] as const).filter(([l, i]) => i > w && /^  - [a-z-]+:/.test(l))[n - 1]![1] + 1;
    };
    expect(await h.line()).toBe(at(4));
    expect(h.cursor).toBe(3);
    const b = (await moved).body.breakpoint;
    expect(b.line).toBe(at(7));
    // The moved breakpoint is the one that stops the next continue.
    const hit = await h.move("continue");
    expect(hit.body.reason).toBe("breakpoint");
    expect(await h.line()).toBe(at(7));
  });

  it("refuses to launch an invalid scenario, with the first error's position", async () => {
    const h = new Harness({ [P]: text.replace('"04:00.0", id:', '"04:0g.0", id:') });
    await h.request("initialize", { adapterID: "passthrough" });
    const r = await h.request("launch", { program: P });
    expect(r.success).toBe(false);
    expect(r.message).toMatch(/has \d+ errors?; the first, at line \d+, column \d+:/);
  });

  it("editing while paused re-runs and keeps the session on the same step", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, { stopOnEntry: true });
    await h.move("next");
    await h.move("next");
    await h.move("next");
    const stopped = h.event<DebugProtocol.StoppedEvent>("stopped");
    h.edit(text.replace("length: 16KiB, write: true }", "length: 8KiB, write: true }").replace("expect: { ok: true, faults: 0 }", "expect: { ok: true }"));
    await stopped;
    expect(await h.line()).toBe(stepLine(4));
    expect((await h.eval("step")).body.result).toBe("0x4 (4)");
  });

  it("a move whose engine request fails after the response reports it and stops again at the last good position", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, { stopOnEntry: true });
    await h.move("next");
    await h.move("next");
    await h.move("stepIn"); // step 3, its first translation
    const before = await h.line();
    expect((await h.eval("event")).success).toBe(true);
    const restarted = Object.assign(new Error("the engine worker stopped responding and was restarted\n    at Worker.onDeath (engineClient.ts:120)"), { code: "restarted" });
    h.failing = { methods: ["debugScan"], error: restarted };
    const responses: DebugProtocol.Response[] = [];
    for (const command of ["next", "stepIn", "stepOut", "stepBack", "continue", "reverseContinue"]) {
      const n = h.outputs("stderr").length;
      const stopped = h.event<DebugProtocol.StoppedEvent>("stopped");
      responses.push(await h.request(command, { threadId: 1 }));
      const s = await stopped; // the UI is stopped again, not left "running"
      expect(s.body.reason, command).toBe("pause");
      const out = h.outputs("stderr").slice(n);
      expect(out, command).toHaveLength(1);
      expect(out[0], command).toMatch(/^[A-Z][a-z ]+ failed: the engine worker stopped responding and was restarted\. Stopped at step 3, event #\d+ \(line \d+\), the last good position; try again\.\n$/);
      expect(out[0]).not.toMatch(/engineClient|    at /); // one line, no stack trace
      expect(await h.line(), command).toBe(before);
    }
    expect(responses.every((r) => r.success)).toBe(true);
    // The position and the hit counts are those of the last good stop: moving works again.
    h.failing = undefined;
    expect((await h.move("stepBack")).body.reason).toBe("step");
    expect(await h.line()).toBe(stepLine(3));
    expect(h.events.filter((e) => e.event === "terminated")).toHaveLength(0);

    // A restart that cannot run to the first stop stays where it was too.
    const h2 = new Harness({ [P]: text });
    await h2.launch(P, {}, async () => {
      await h2.request("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(4) }] });
    });
    expect(await h2.line()).toBe(stepLine(4));
    h2.failing = { methods: ["debugScan"], error: restarted };
    const stopped = h2.event<DebugProtocol.StoppedEvent>("stopped");
    expect((await h2.request("restart", {})).success).toBe(true);
    expect((await stopped).body.reason).toBe("pause");
    expect(h2.outputs("stderr")).toEqual([`Restart failed: the engine worker stopped responding and was restarted. Stopped at step 4 (line ${stepLine(4)}), the last good position; try again.\n`]);
    expect(await h2.line()).toBe(stepLine(4));
  });

  it("a move failing because the engine no longer has the scenario ends the session", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, { stopOnEntry: true });
    h.failing = { methods: ["debugScan"], error: Object.assign(new Error(`no scenario open for ${P}`), { code: "no-session" }) };
    const terminated = h.event("terminated");
    const r = await h.request("continue", { threadId: 1 });
    expect(r.success).toBe(true);
    await terminated;
    expect(h.outputs("stderr").join("")).toMatch(/^Continue failed: no scenario open for s\.passthrough\.yaml\. The scenario is no longer open in the engine; the debug session ends\.\n$/);
  });

  it("at a fault stop the IOMMU registers show the fault record as the hardware holds it then, before the driver clears it", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, {}, async () => {
      await h.request("setExceptionBreakpoints", { filters: ["fault"] });
    });
    const sc = await h.scopes();
    const name = "IOMMU registers (at this event, before the driver's fault handler)";
    expect(Object.keys(sc)).toContain(name);
    const regs = sc[name]!;
    const kids = async (v: DebugProtocol.Variable) => Object.fromEntries((await h.request<DebugProtocol.VariablesResponse>("variables", { variablesReference: v.variablesReference })).body.variables.map((x) => [x.name, x.value]));
    const fsts = regs.find((v) => v.name === "FSTS")!;
    expect(fsts.value).toBe("0x2"); // PPF, FRI 0
    expect(await kids(fsts)).toMatchObject({ PFO: "0", PPF: "1", FRI: "0" });
    expect(await kids(regs.find((v) => v.name === "FECTL")!)).toMatchObject({ IP: "1" });
    const records = regs.find((v) => v.name === "fault records")!;
    expect(records.value).toBe("1 of 8 in use");
    const frcd = (await h.request<DebugProtocol.VariablesResponse>("variables", { variablesReference: records.variablesReference })).body.variables;
    expect(frcd.map((v) => v.name)).toEqual(["FRCD0"]);
    expect(frcd[0]!.value).toBe("04:00.0 write 0x102000: 0x05 PTE Write access is not set");
    // F [127], T [126] = 0 (write), FR [103:96] = 0x05, SID [79:64] = 0x0400, FI [63:12] = 0x102.
    // The fields as the Mapping Tables tree shows them: one decoder (sim/vtd/regs.ts decodeFrcd), bit order.
    const fields = await kids(frcd[0]!);
    expect(fields).toEqual({ raw: "0x8000000500000400_0000000000102000", FI: "0x102000", SID: "0x400 (04:00.0)", PRIV: "0", EXE: "0", PP: "0", FR: "0x05", PV: "0x0", AT: "0 (untranslated)", T: "0 (write)", F: "1" });
    expect(Object.keys(fields)).toEqual(["raw", "FI", "SID", "PRIV", "EXE", "PP", "FR", "PV", "AT", "T", "F"]);

    // After the step, Linux's handler has read and cleared the record.
    await h.move("stepOut");
    const after = (await h.scopes())["IOMMU registers"]!;
    expect(after.find((v) => v.name === "fault records")!.value).toBe("0 of 8 in use");
    expect(await kids(after.find((v) => v.name === "FSTS")!)).toMatchObject({ PPF: "0" });
    // Going back onto the event rebuilds the same record (exact, from the checkpoints).
    expect((await h.move("reverseContinue")).body.reason).toBe("exception");
    const again = (await h.scopes())[name]!;
    expect(again.find((v) => v.name === "fault records")!.value).toBe("1 of 8 in use");
  });

  it("a condition on `device` alone is tested on each translation of a DMA step, and once on a step without translations", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, {}, async () => {
      await h.request("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(3), condition: 'device == "04:00.0"' }] });
    });
    // The first translation of step 3, not the step's start.
    const st = await h.request<DebugProtocol.StackTraceResponse>("stackTrace", { threadId: 1 });
    expect(st.body.stackFrames.map((f) => f.name)).toEqual([expect.stringMatching(/^event #\d+$/), "step 3"]);
    const first = (await h.eval("event")).body.result;
    expect((await h.eval("iova")).body.result).toBe("0x100000 (1048576)");
    expect((await h.eval("kind")).body.result).toBe('"dma"');
    // Every translation of that device is a hit: the next one.
    await h.move("continue");
    expect((await h.eval("iova")).body.result).toBe("0x101000 (1052672)");
    expect((await h.eval("event")).body.result).not.toBe(first);

    // No translation of another device: no stop at all.
    const h2 = new Harness({ [P]: text });
    const end = await h2.launch(P, {}, async () => {
      await h2.request("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(3), condition: 'device == "05:00.0"' }, { line: stepLine(6), condition: 'device == "0000:05:00.0"' }] });
    });
    expect(end.body.description).toMatch(/End of the workload/);

    // guest-map (step 2) has no translations: the condition is tested on the step, with its `device` argument.
    const h3 = new Harness({ [P]: text });
    const s3 = await h3.launch(P, {}, async () => {
      await h3.request("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(2), condition: 'device == "04:00.0"' }] });
    });
    expect(s3.body.reason).toBe("breakpoint");
    expect(await h3.line()).toBe(stepLine(2));
    expect((await h3.request<DebugProtocol.StackTraceResponse>("stackTrace", { threadId: 1 })).body.stackFrames).toHaveLength(1);
  });

  it("honours DAP value formatting: hex, decimal, or the default, in Variables and in the Debug Console", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, { stopOnEntry: true });
    await h.move("next");
    await h.move("next"); // step 3: dma at IOVA 0x100000
    const step = (await h.request<DebugProtocol.ScopesResponse>("scopes", { frameId: 0 })).body.scopes.find((s) => s.name === "Step")!;
    const list = async (ref: number, format?: DebugProtocol.ValueFormat) => Object.fromEntries((await h.request<DebugProtocol.VariablesResponse>("variables", { variablesReference: ref, ...(format ? { format } : {}) })).body.variables.map((v) => [v.name, v]));
    const vars = await list(step.variablesReference);
    expect(vars.step!.value).toBe("3");
    expect((await list(step.variablesReference, { hex: true })).step!.value).toBe("0x3");
    expect((await list(step.variablesReference, { hex: false })).step!.value).toBe("3");
    const argsRef = vars.arguments!.variablesReference;
    expect((await list(argsRef)).iova!.value).toBe("0x100000"); // addresses default to hex
    expect((await list(argsRef, { hex: false })).iova!.value).toBe("1048576");
    expect((await list(argsRef, { hex: true })).iova!.value).toBe("0x100000");
    expect((await list(argsRef, { hex: false })).device!.value).toBe("04:00.0"); // not a number: unchanged

    const ev = async (expression: string, format?: DebugProtocol.ValueFormat) => (await h.request<DebugProtocol.EvaluateResponse>("evaluate", { expression, frameId: 0, context: "watch", ...(format ? { format } : {}) })).body.result;
    expect(await ev("iova")).toBe("0x100000 (1048576)");
    expect(await ev("iova", { hex: true })).toBe("0x100000");
    expect(await ev("iova", { hex: false })).toBe("1048576");
    expect(await ev("iova + 0x10", { hex: false })).toBe("1048592");
    expect(await ev("0 - 16", { hex: true })).toBe("-0x10");
    expect(await ev("op", { hex: true })).toBe('"dma"');
    expect(await ev("write", { hex: false })).toBe("true");
  });

  it("data breakpoints are verified only for a mapping of a device of the current run", async () => {
    // Before launch there is no run to check them against.
    const early = new Harness({ [P]: text });
    await early.request("initialize", { adapterID: "passthrough" });
    const pre = await early.request<DebugProtocol.SetDataBreakpointsResponse>("setDataBreakpoints", { breakpoints: [{ dataId: "map|04:00.0|0x100000" }] });
    expect(pre.body.breakpoints).toEqual([{ verified: false, message: "the scenario is not loaded yet" }]);

    const h = new Harness({ [P]: text });
    let r!: DebugProtocol.SetDataBreakpointsResponse;
    await h.launch(P, {}, async () => {
      r = await h.request<DebugProtocol.SetDataBreakpointsResponse>("setDataBreakpoints", {
        breakpoints: [{ dataId: "map|05:00.0|0x100000" }, { dataId: "garbage" }, { dataId: "map|04:00.0" }, { dataId: "map|04:00.0|0x1g" }, { dataId: "map|0000:04:00.0|0x100000" }],
      });
    });
    expect(r.body.breakpoints.map((b) => b.verified)).toEqual([false, false, false, false, true]);
    expect(r.body.breakpoints[0]!.message).toBe("no host device 05:00.0 in this scenario (devices: 04:00.0)");
    expect(r.body.breakpoints[1]!.message).toMatch(/^"garbage" is not a mapping data breakpoint/);
    expect(r.body.breakpoints[2]!.message).toMatch(/^"map\|04:00.0" is not a mapping data breakpoint/);
    expect(r.body.breakpoints[3]!.message).toMatch(/"0x1g" is not an address/);
    expect(r.body.breakpoints[4]!.message).toBe("mapping of 0x100000 for 04:00.0");
    // Only the valid one watches: the launch stops where that mapping is created (guest-map, step 2).
    const first = h.events.find((e) => e.event === "stopped") as DebugProtocol.StoppedEvent;
    expect(first.body.reason).toBe("data breakpoint");
    expect(first.body.text).toMatch(/changed in step 2 \(guest-map/);
  });

  // A fault the OS sees (step 2: an IOVA beyond the VM's memory) and one that FPD suppresses
  // (step 5: the context entry rewritten with P = 0 and FPD = 1, read again after a context-cache
  // invalidation: fault 0x02, qualified, so not recorded).
  const fpdText = `name: FPD-suppressed fault
host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", name: X710 10GbE, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: web01
    memory: 2GiB
    devices: ["01:00.0"]
workload:
  - start: web01
  - dma: { device: "01:00.0", iova: 0x1_0000_0000, length: 4KiB }
    expect: { fault: 0x06, recorded: true }
  - poke: { target: { device: "01:00.0", structure: context-lo }, value: 0x2 }
  - invalidate: { granularity: context-global }
  - dma: { device: "01:00.0", iova: 0x10_0000, length: 4KiB }
    expect: { fault: 0x02, recorded: false }
`;
  const fpdLine = (n: number) => {
    const ls = fpdText.split("\n");
    const w = ls.indexOf("workload:");
    return ls.map((l, i) => [l, i] as const).filter(([l, i]) => i > w && /^  - [a-z-]+:/.test(l))[n - 1]![1] + 1;
  };

  it('exception filter "fault-unsuppressed" skips a fault FPD suppresses; "fault" stops at it', async () => {
    const h = new Harness({ [P]: fpdText });
    const s = await h.launch(P, {}, async () => {
      await h.request("setExceptionBreakpoints", { filters: ["fault-unsuppressed"] });
    });
    expect(s.body.reason).toBe("exception");
    expect(await h.line()).toBe(fpdLine(2));
    expect((await h.eval("reason")).body.result).toBe("0x6 (6)");
    expect((await h.eval("recorded")).body.result).toBe("true");
    const end = await h.move("continue");
    expect(end.body.description).toMatch(/End of the workload/); // not at step 5's suppressed fault
    expect(h.events.filter((e) => e.event === "stopped")).toHaveLength(2);

    const all = new Harness({ [P]: fpdText });
    await all.launch(P, {}, async () => {
      await all.request("setExceptionBreakpoints", { filters: ["fault"] });
    });
    expect(await all.line()).toBe(fpdLine(2));
    const sup = await all.move("continue");
    expect(sup.body.reason).toBe("exception");
    expect(sup.body.text).toMatch(/^DMA fault: 0x02 /);
    expect(await all.line()).toBe(fpdLine(5));
    expect((await all.eval("fpd")).body.result).toBe("true");
    expect((await all.eval("recorded")).body.result).toBe("false");
  });

  it('stopOnFault adds "fault" only when the user has not picked "fault-unsuppressed"', async () => {
    // stopOnFault with the narrower filter selected: the suppressed fault does not stop.
    const narrow = new Harness({ [P]: fpdText });
    await narrow.launch(P, { stopOnFault: true }, async () => {
      await narrow.request("setExceptionBreakpoints", { filters: ["fault-unsuppressed", "vfio-errno"] });
    });
    expect(await narrow.line()).toBe(fpdLine(2));
    expect((await narrow.move("continue")).body.description).toMatch(/End of the workload/);
    // The same after a restart (the selection is kept).
    await narrow.move("restart", {});
    expect(await narrow.line()).toBe(fpdLine(2));
    expect((await narrow.move("continue")).body.description).toMatch(/End of the workload/);

    // stopOnFault without it: every fault, the suppressed one included.
    const wide = new Harness({ [P]: fpdText });
    await wide.launch(P, { stopOnFault: true }, async () => {
      await wide.request("setExceptionBreakpoints", { filters: ["vfio-errno"] });
    });
    expect(await wide.line()).toBe(fpdLine(2));
    await wide.move("continue");
    expect(await wide.line()).toBe(fpdLine(5));
  });

  it('exception filters "vfio-errno" and "group-not-viable" stop before the failing step, only when selected', async () => {
    const memlock = read("memlock-too-small");
    const h = new Harness({ [P]: memlock });
    const s = await h.launch(P, {}, async () => {
      await h.request("setExceptionBreakpoints", { filters: ["vfio-errno"] });
    });
    expect(s.body.reason).toBe("exception");
    expect(s.body.description).toBe("VFIO error ENOMEM");
    expect(s.body.text).toMatch(/^Step 1 fails: /);
    expect((await h.eval("errno")).body.result).toBe('"ENOMEM"');
    const off = new Harness({ [P]: memlock });
    expect((await off.launch(P, {}, async () => void (await off.request("setExceptionBreakpoints", { filters: ["group-not-viable"] })))).body.description).toMatch(/End of the workload/);

    const nonViable = read("non-viable-group");
    const g = new Harness({ [P]: nonViable });
    const gs = await g.launch(P, {}, async () => {
      await g.request("setExceptionBreakpoints", { filters: ["group-not-viable"] });
    });
    expect(gs.body.reason).toBe("exception");
    expect(gs.body.description).toBe("IOMMU group not viable");
    expect(gs.body.text).toMatch(/^Step 1 fails: /);
    expect((await g.eval("error")).body.result).toBe('"group-not-viable"');
    const goff = new Harness({ [P]: nonViable });
    expect((await goff.launch(P, {}, async () => void (await goff.request("setExceptionBreakpoints", { filters: ["vfio-errno"] })))).body.description).toMatch(/End of the workload/);
  });

  it("scopes and evaluate follow the selected frame: frame 0 the event, frame 1 its step", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, { stopOnEntry: true });
    await h.move("next");
    await h.move("next");
    await h.move("stepIn");
    await h.move("stepIn"); // step 3 (dma of 16 KiB at 0x100000), its second translation
    const st = await h.request<DebugProtocol.StackTraceResponse>("stackTrace", { threadId: 1 });
    expect(st.body.stackFrames.map((f) => [f.id, f.name])).toEqual([[0, expect.stringMatching(/^event #\d+$/)], [1, "step 3"]]);
    const names = async (frameId: number) => (await h.request<DebugProtocol.ScopesResponse>("scopes", { frameId })).body.scopes.map((s) => s.name);
    expect(await names(0)).toEqual(expect.arrayContaining(["Step", "Translation", "IOMMU registers (at this event, before the driver's fault handler)"]));
    const stepScopes = await names(1);
    expect(stepScopes).toContain("Step");
    expect(stepScopes).not.toContain("Translation");
    expect(stepScopes).toContain("IOMMU registers"); // the step's state: before it runs
    const ev = (expression: string, frameId: number) => h.request<DebugProtocol.EvaluateResponse>("evaluate", { expression, frameId, context: "hover" });
    expect((await ev("iova", 0)).body.result).toBe("0x101000 (1052672)"); // this translation
    expect((await ev("iova", 1)).body.result).toBe("0x100000 (1048576)"); // the step's argument
    expect((await ev("event", 0)).success).toBe(true);
    const noEvent = await ev("event", 1);
    expect(noEvent.success).toBe(false);
    expect(noEvent.message).toMatch(/unknown name "event"/);
    // At a step (no events selected) there is one frame, 0.
    await h.move("next");
    expect((await h.request<DebugProtocol.StackTraceResponse>("stackTrace", { threadId: 1 })).body.stackFrames.map((f) => f.id)).toEqual([0]);
  });

  it("a restart reports a breakpoint condition's problem again (once per session)", async () => {
    const h = new Harness({ [P]: text });
    const problem = (o: string) => o.startsWith('breakpoint condition "iova >="');
    await h.launch(P, {}, async () => {
      await h.request("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(3), condition: "iova >=" }, { line: stepLine(4) }, { line: stepLine(6) }] });
    });
    expect(h.outputs("stderr").filter(problem)).toHaveLength(1);
    await h.move("continue");
    expect(h.outputs("stderr").filter(problem)).toHaveLength(1); // not repeated within the session
    await h.move("restart", {});
    expect(h.outputs("stderr").filter(problem)).toHaveLength(2);
    expect(h.outputs("stderr").filter(problem)[1]).toMatch(/ends too early/);
  });

  const names = async (h: Harness, args: Record<string, unknown> = {}) => (await h.request<DebugProtocol.StackTraceResponse>("stackTrace", { threadId: 1, ...args })).body.stackFrames.map((f) => f.name);

  it("restart re-sends stopped at the new position; the call stack reads it (top frame first, then the rest, as VS Code asks)", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, {}, async () => {
      await h.request("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(2) }, { line: stepLine(3) }] });
    });
    await h.move("continue");
    expect(await names(h)).toEqual(["step 3"]);
    const from = h.events.length;
    const stopped = await h.move("restart", {});
    expect(stopped.body.reason).toBe("breakpoint");
    // The thread ran (VS Code drops the old call stack), then stopped at step 2.
    expect(h.events.slice(from).map((e) => e.event).filter((e) => e === "continued" || e === "stopped")).toEqual(["continued", "stopped"]);
    expect(await names(h, { startFrame: 0, levels: 1 })).toEqual(["step 2"]);
    expect(await names(h, { startFrame: 1, levels: 19 })).toEqual([]);
    expect(await h.line()).toBe(stepLine(2));
    expect(h.cursor).toBe(1);
    // Inside a step's events: two frames, the second one only when asked for from 1.
    await h.move("stepIn");
    expect(await names(h, { startFrame: 0, levels: 1 })).toEqual([expect.stringMatching(/^event #\d+$/)]);
    expect(await names(h, { startFrame: 1, levels: 19 })).toEqual(["step 2"]);
    const all = await h.request<DebugProtocol.StackTraceResponse>("stackTrace", { threadId: 1 });
    expect(all.body.totalFrames).toBe(2);
    expect(all.body.stackFrames[0]!.column).toBe(1);
  });

  it("a restart while a continue is still running ends where the restart stops, not where the older continue would", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, {}, async () => {
      await h.request("setBreakpoints", { source: { path: P }, breakpoints: [{ line: stepLine(2) }, { line: stepLine(3) }] });
    });
    await h.move("continue"); // step 3
    h.gate = [];
    const gate = h.gate;
    const from = h.events.length;
    expect((await h.request("continue", { threadId: 1 })).success).toBe(true);
    expect((await h.request("restart", {})).success).toBe(true);
    await vi.waitFor(() => expect(gate).toHaveLength(2));
    // The restart's scan answers first, the continue's (to the end of the workload) after it.
    gate[1]!();
    await vi.waitFor(() => expect(h.events.slice(from).filter((e) => e.event === "stopped")).toHaveLength(1));
    gate[0]!();
    await new Promise((ok) => setTimeout(ok, 0));
    await new Promise((ok) => setTimeout(ok, 0));
    h.gate = undefined;
    const stops = h.events.slice(from).filter((e) => e.event === "stopped");
    expect(stops).toHaveLength(1);
    expect(await names(h)).toEqual(["step 2"]);
    expect(h.cursor).toBe(1);
  });

  it("Variables open on the Step scope: it comes first, as locals, and is not expensive", async () => {
    const h = new Harness({ [P]: text });
    await h.launch(P, { stopOnEntry: true });
    await h.move("next");
    await h.move("next");
    await h.move("stepIn");
    for (const frameId of [0, 1]) {
      const sc = (await h.request<DebugProtocol.ScopesResponse>("scopes", { frameId })).body.scopes;
      expect(sc[0]).toMatchObject({ name: "Step", expensive: false, presentationHint: "locals" });
      for (const s of sc) expect(typeof s.expensive, s.name).toBe("boolean");
      expect(sc.find((s) => !s.expensive)!.name).toBe("Step");
      expect(sc.find((s) => s.name.startsWith("IOMMU registers"))!.presentationHint).toBe("registers");
      expect(sc.find((s) => s.name.startsWith("IOTLB"))!.expensive).toBe(true);
    }
  });
});
