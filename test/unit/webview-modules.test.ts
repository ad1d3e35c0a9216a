// The DMA Trace webview is split into modules with one job each (issue 15 "files with one job"):
// one module talks to the host, and no module keeps mutable state at its top level (state lives in
// explicit objects the entry wires together).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const dir = join(__dirname, "..", "..", "media", "trace");
const modules = readdirSync(dir).filter((f) => f.endsWith(".ts"));
const source = (f: string) => readFileSync(join(dir, f), "utf8");

describe("media/trace modules", () => {
  it("only host.ts talks to the host (acquireVsCodeApi, postMessage, getState/setState, the message listener)", () => {
    const talking = modules.filter((f) => /acquireVsCodeApi|\.postMessage\(|\.setState\(|\.getState\(|addEventListener\("message"/.test(source(f)));
    expect(talking).toEqual(["host.ts"]);
  });

  it("no module has mutable state at its top level (no `let`, no top-level Map/Set/array that parts would share)", () => {
    for (const f of modules) {
      const top = source(f).split("\n").filter((l) => /^(?:export )?let /.test(l) || /^(?:export )?const \w+ = new (?:Map|Set)\b/.test(l) || /^(?:export )?const \w+(?:: [^=]+)? = \[\];/.test(l));
      expect({ module: f, top }).toEqual({ module: f, top: [] });
    }
  });
});
