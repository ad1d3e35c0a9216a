// Evidence files: the Node host streams a local file in chunks (a 1 GB log never sits in memory);
// where a file can only be read whole (VS Code for the Web, remote and virtual schemes) a file over
// the limit gets a clear error naming its size, the limit and what works instead.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WHOLE_READ_LIMIT, wholeReadRefusal } from "../../src/extension/fileAccess.js";
import { platform } from "../../src/extension/platform.js";

const uri = (scheme: string, path: string) => ({ scheme, fsPath: path, path }) as never;

describe("reading evidence files", () => {
  it("the Node platform streams a local file in bounded chunks and nothing else", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "pt-stream-")), "big.log");
    const bytes = new Uint8Array(1_000_003).map((_, i) => 32 + (i % 90));
    writeFileSync(file, bytes);
    expect(platform.canStream(uri("file", file))).toBe(true);
    expect(platform.canStream(uri("vscode-remote", file))).toBe(false);
    expect(platform.streamFile(uri("vscode-vfs", file), 65536)).toBeUndefined();
    const sizes: number[] = [];
    for await (const chunk of platform.streamFile(uri("file", file), 65536)!) sizes.push(chunk.byteLength);
    expect(sizes.length).toBeGreaterThan(10);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(65536);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(bytes.length);
  });

  it("reads a file whole up to the limit and refuses a bigger one with its size, the limit and the way out", () => {
    expect(wholeReadRefusal("dmesg.log", WHOLE_READ_LIMIT)).toBeUndefined();
    expect(wholeReadRefusal("logs/kern.log", 2 ** 30)).toBe(
      "Import evidence: logs/kern.log is 1024 MiB; here a file is read whole, up to 256 MiB. Import a shorter log (one boot's kernel messages: journalctl -k -b), or decode this one with the CLI: passthrough decode logs/kern.log",
    );
    expect(wholeReadRefusal("x.log", 5 * 2 ** 20 + 1, 5 * 2 ** 20)).toMatch(/^Import evidence: x\.log is 5\.0 MiB; here a file is read whole, up to 5\.0 MiB\./);
  });
});
