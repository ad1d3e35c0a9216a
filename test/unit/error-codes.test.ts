// The one list of problem codes (src/protocol/diagnostics.ts): the compiler rejects a code that
// is not listed (Diagnostic.code, StepOutcome.error and the reporters' parameters are typed with
// it); this test keeps the list from growing codes nothing reports.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DIAGNOSTIC_CODES, REQUEST_ERROR_CODES, type Diagnostic } from "../../src/protocol/diagnostics.js";

const src = join(__dirname, "..", "..", "src");
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") && !p.endsWith(join("protocol", "diagnostics.ts")) ? [readFileSync(p, "utf8")] : [];
  });
}

describe("error codes", () => {
  const text = sources(src).join("\n");
  it("are listed once", () => {
    const all = [...DIAGNOSTIC_CODES, ...REQUEST_ERROR_CODES];
    expect(all.filter((c, i) => all.indexOf(c) !== i)).toEqual([]);
  });
  it("a code outside the list does not compile (npm run typecheck checks this file)", () => {
    const range = { start: 0, end: 0, line: 0, column: 0 };
    // @ts-expect-error "no-such-code" is not a DiagnosticCode
    const bad: Diagnostic = { severity: "error", code: "no-such-code", message: "m", range };
    const good: Diagnostic = { severity: "error", code: "yaml-syntax", message: "m", range };
    expect([bad.code, good.code]).toEqual(["no-such-code", "yaml-syntax"]);
  });
  it("every listed code is reported somewhere in src/", () => {
    expect([...DIAGNOSTIC_CODES, ...REQUEST_ERROR_CODES].filter((c) => !text.includes(`"${c}"`))).toEqual([]);
  });
});
