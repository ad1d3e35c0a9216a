// Names from a scenario or a log as the sidebar trees show them (src/extension/text.ts): hostile
// strings stay text, nothing invisible or reordering reaches a label, a 1 MB name costs a bounded
// label, and ordinary names are untouched.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_LABEL, MAX_TOOLTIP, spoken, visibleText } from "../../src/extension/text.js";

const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

describe("tree labels from untrusted names", () => {
  it("shows bidi overrides, zero-width and control characters as code points", () => {
    expect(visibleText("web\u202Egnp.exe")).toBe("web<U+202E>gnp.exe");
    expect(visibleText("a\u200Bb\u2066c\u2069")).toBe("a<U+200B>b<U+2066>c<U+2069>");
    expect(visibleText("\u001b]0;pwned\u0007vm")).toBe("<U+001B>]0;pwned<U+0007>vm");
    expect(visibleText("two\nlines\ttab")).toBe("two lines tab");
    expect(visibleText("two\nlines", MAX_TOOLTIP, true)).toBe("two\nlines");
  });

  it("keeps markup as the same characters (a tree label is text)", () => {
    const s = "<img src=x onerror=alert(1)></script>";
    expect(visibleText(s)).toBe(s);
  });

  it("clips a 1 MB name with an ellipsis, in bounded time and size", () => {
    const big = `<img src=x onerror=alert(1)>\u202E${"N".repeat(1_000_000)}`;
    const label = visibleText(big);
    expect(label.length).toBeLessThanOrEqual(MAX_LABEL);
    expect(label.endsWith("…")).toBe(true);
    expect(label.startsWith("<img src=x onerror=alert(1)><U+202E>NNN")).toBe(true);
    expect(visibleText(big, MAX_TOOLTIP, true).length).toBeLessThanOrEqual(MAX_TOOLTIP);
    // A name of a million invisible characters: every shown one escaped, still bounded.
    expect(visibleText("\u202E".repeat(1_000_000)).length).toBeLessThanOrEqual(MAX_LABEL);
  });

  it("never cuts a surrogate pair", () => {
    const s = "x".repeat(MAX_LABEL - 2) + "😀".repeat(10);
    const out = visibleText(s);
    expect(out.endsWith("…")).toBe(true);
    const before = out.charCodeAt(out.length - 2);
    expect(before >= 0xd800 && before <= 0xdbff).toBe(false);
  });

  it("property: bounded, nothing invisible, ordinary short names unchanged", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 600 }), fc.integer({ min: 2, max: 400 }), (s, max) => {
        const out = visibleText(s, max);
        expect(out.length).toBeLessThanOrEqual(max);
        expect(INVISIBLE.test(out)).toBe(false);
        expect(/[\n\t]/.test(out)).toBe(false);
        if (s.length <= max && !INVISIBLE.test(s) && !/[\n\t]/.test(s) && out.length === s.length) expect(out).toBe(s);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 150 }), (s) => {
        if (!INVISIBLE.test(s) && !/[\n\t]/.test(s)) expect(visibleText(s)).toBe(s);
      }),
      { numRuns: 300 },
    );
  });
});

describe("spoken: a tree node's text as a screen reader reads it", () => {
  it("says the separators the trees draw as words", () => {
    expect(spoken("RW PS · IOVA 0x0 → HPA 0x176200000 (2 MiB)")).toBe("RW PS, IOVA 0x0 to HPA 0x176200000 (2 MiB)");
    expect(spoken("Entries 0–253 · table @ 0x1000")).toBe("Entries 0 to 253, table at 0x1000");
    expect(spoken("a–a–a")).toBe("a to a to a");
  });
  it("leaves no drawn separator in any text, and text without one unchanged", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", "0x1f", " ", "·", "→", " @ ", "–", "9", "-"), { maxLength: 30 }), (parts) => {
        const out = spoken(parts.join(""));
        expect(out).not.toMatch(/[·→]|\s@\s|\w–\w/);
      }),
    );
    fc.assert(fc.property(fc.stringMatching(/^[a-zA-Z0-9 ,:()[\]-]*$/), (s) => {
      expect(spoken(s)).toBe(s);
    }));
  });
});
