// A trace export to a file the user chose to overwrite: the file keeps its contents until the new
// one is complete; a cancelled or failed export leaves it as it was and leaves no partial file.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fileSink, type ExportFileOps } from "../../src/extension/exportFile.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "export-"));
  dirs.push(d);
  return d;
}

describe("trace export file", () => {
  it("a cancelled export leaves an existing file's contents and no partial file", async () => {
    const dir = tempDir();
    const target = join(dir, "run.trace.csv");
    writeFileSync(target, "my earlier export\n");
    const sink = await fileSink(target);
    await sink.write("index,step\n");
    await sink.write("0,1\n");
    // The target is untouched while the export runs...
    expect(readFileSync(target, "utf8")).toBe("my earlier export\n");
    await sink.discard();
    // ...and after it is cancelled.
    expect(readFileSync(target, "utf8")).toBe("my earlier export\n");
    expect(readdirSync(dir)).toEqual(["run.trace.csv"]);
  });

  it("a complete export replaces the file; nothing else stays in the folder", async () => {
    const dir = tempDir();
    const target = join(dir, "run.trace.json");
    writeFileSync(target, "old");
    const sink = await fileSink(target);
    await sink.write("[\n");
    await sink.write("]\n");
    await sink.finish();
    expect(readFileSync(target, "utf8")).toBe("[\n]\n");
    expect(sink.bytes).toBe(4);
    expect(readdirSync(dir)).toEqual(["run.trace.json"]);
  });

  it("a write that fails midway (disk full) removes only the temporary file", async () => {
    const files = new Map<string, string>([["/w/t.csv", "keep me"]]);
    const ops: ExportFileOps = {
      async open(path) {
        if (files.has(path)) throw new Error("EEXIST");
        files.set(path, "");
        let n = 0;
        return {
          async write(data) {
            if (++n === 2) throw new Error("ENOSPC: no space left on device");
            files.set(path, files.get(path)! + new TextDecoder().decode(data));
          },
          async close() {},
        };
      },
      async rename(from, to) {
        files.set(to, files.get(from)!);
        files.delete(from);
      },
      async rm(path) {
        files.delete(path);
      },
    };
    const sink = await fileSink("/w/t.csv", ops, "/w/.t.csv.x.part");
    await sink.write("a\n");
    await expect(sink.write("b\n")).rejects.toThrow(/ENOSPC/);
    await sink.discard();
    expect([...files]).toEqual([["/w/t.csv", "keep me"]]);
  });
});
