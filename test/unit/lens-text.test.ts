// Scenario and log text inside a CodeLens title (src/extension/text.ts lensText): a step's summary
// names a device's host driver, so an untrusted scenario decides part of the title. The workbench
// draws "$(name)" in a lens title as an icon and does not isolate bidi overrides; the title must
// show the text as it is, visibly, and stay one bounded line.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_LENS, lensText } from "../../src/extension/text.js";

/** What VS Code's renderLabelWithIcons draws as icons: an unescaped "$(name)". */
const ICON = /(?<!\\)\$\([a-z0-9-]+(?:~[a-z]+)?\)/;

describe("CodeLens titles from untrusted text", () => {
  it("escapes icon syntax, so $(bug) is the text $(bug)", () => {
    expect(lensText("bound to the host driver \"$(bug) evil\"")).toBe("bound to the host driver \"\\$(bug) evil\"");
    expect(ICON.test(lensText("$(sync~spin)$(x)"))).toBe(false);
  });

  it("shows a bidi override, zero-width and control characters, and markup as text", () => {
    expect(lensText("<img src=x onerror=alert(1)>\u202Eevil\u200Bzw\u0007")).toBe("<img src=x onerror=alert(1)><U+202E>evil<U+200B>zw<U+0007>");
    expect(lensText("two\nlines")).toBe("two lines");
  });

  it("clips a 1 MB name to one bounded line", () => {
    const t = lensText(`group 1 is not viable: 01:00.1 is bound to "${"N".repeat(1_000_000)}"`);
    expect(t.length).toBeLessThanOrEqual(MAX_LENS);
    expect(t.endsWith("…")).toBe(true);
  });

  it("never leaves an icon, an invisible character or a newline, for any text", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("$", "(", ")", "b", "u", "g", "\\", "\u202E", "\u200B", "\n", "\u0007", "x"), maxLength: 300 }), (s) => {
        const t = lensText(s);
        expect(ICON.test(t)).toBe(false);
        expect(/[\u0000-\u001f\u200b-\u200f\u202a-\u202e]/.test(t)).toBe(false);
        expect(t.length).toBeLessThanOrEqual(MAX_LENS);
      }),
      { numRuns: 2000 },
    );
  });
});
