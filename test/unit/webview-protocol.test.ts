// The run the extension writes into the DMA Trace webview's document (a body attribute) must reach
// the webview as the very same text, whatever a scenario's file name or step says.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { escapeAttribute, scenarioDisplayName } from "../../src/protocol/webview.js";

/** What an HTML parser does to a double-quoted attribute value with numeric character references. */
const unescape = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));

describe("escapeAttribute", () => {
  it("leaves no character that could end the attribute or start markup, and decodes to the original", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        const out = escapeAttribute(text);
        expect(out).not.toMatch(/[<>"']/);
        expect(out.replace(/&#\d+;/g, "")).not.toContain("&");
        expect(unescape(out)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it("escapes a hostile file name inside the run's JSON", () => {
    const json = JSON.stringify({ file: `"><img src=x onerror=alert(1)>'&` });
    expect(escapeAttribute(json)).toBe("{&#34;file&#34;:&#34;\\&#34;&#62;&#60;img src=x onerror=alert(1)&#62;&#39;&#38;&#34;}");
  });
});

describe("scenarioDisplayName (the DMA Trace panel's title)", () => {
  it("names a document as its tab does", () => {
    expect(scenarioDisplayName("untitled:Untitled-1")).toBe("Untitled-1");
    expect(scenarioDisplayName("file:///home/u/lab/dma%20after%20unmap.passthrough.yaml")).toBe("dma after unmap.passthrough.yaml");
    expect(scenarioDisplayName("vscode-remote://ssh-remote%2Bbox/srv/x.passthrough.yaml?q=1#frag")).toBe("x.passthrough.yaml");
    expect(scenarioDisplayName("file:///c%3A/w/100%25.passthrough.yaml")).toBe("100%.passthrough.yaml");
  });
});
