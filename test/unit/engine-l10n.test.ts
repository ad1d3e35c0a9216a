// The strings the engine builds (hovers) in the user's language: the host hands the worker
// vscode.l10n.bundle in its init message (EngineInit.l10n) and the engine translates with
// @vscode/l10n. Without a bundle (English, the CLI) every text is the English one.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as l10n from "@vscode/l10n";
import { afterEach, describe, expect, it } from "vitest";
import { serveEngine, type Endpoint } from "../../src/engine/server.js";
import type { EngineInit } from "../../src/protocol/engine.js";

const text = readFileSync(join(__dirname, "..", "..", "examples", "dma-after-unmap.passthrough.yaml"), "utf8");
const lines = text.split("\n");
const uri = "file:///x/dma-after-unmap.passthrough.yaml";

/** A worker's endpoint driven by the test: init goes in as the host sends it. */
function worker(init: EngineInit) {
  let listener: ((m: unknown) => void) | undefined;
  const endpoint: Endpoint = { post: () => undefined, onMessage: (l) => (listener = l) };
  const server = serveEngine(endpoint);
  listener!(init);
  server.handle("update", { uri, version: 1, text });
  const hover = (needle: string, offset = 2) => {
    const line = lines.findIndex((l) => l.includes(needle));
    return server.handle("hover", { uri, line, character: lines[line]!.indexOf(needle) + offset, lineText: lines[line]!, radix: "hex" })!.markdown;
  };
  return { hover };
}

describe("engine l10n", () => {
  // (@vscode/l10n's bundle is per module instance: leave English for the other tests)
  afterEach(() => l10n.config({ contents: {} }));

  it("hovers use the bundle the host sent in the worker's init message", () => {
    const { hover } = worker({ init: true, l10n: { "- IOMMU group {0}: {1} — {2}": "- IOMMU-Gruppe {0}: {1} — {2}", viable: "verwendbar", "**{0} write: fault {1}**{2} ({3})": "**{0} Schreiben: Fehler {1}**{2} ({3})" } });
    const bdf = hover('bdf: "04:00.0"', 8);
    expect(bdf).toMatch(/^- IOMMU-Gruppe \d+: `04:00\.0` — verwendbar$/m);
    // Not in the bundle: English.
    expect(bdf).toMatch(/^- requester id /m);
    expect(hover("iova: 0x10_2000, length: 4KiB, write: true", 9)).toMatch(/^\*\*`04:00\.0` Schreiben: Fehler 0x05/);
  });

  it("diagnostics, their hints and quick fixes use the bundle too", () => {
    const bundle = { "{0} is not a size": "{0} ist keine Größe", "Enable caching-mode on {0}'s vIOMMU": "caching-mode für die vIOMMU von {0} einschalten" };
    let listener: ((m: unknown) => void) | undefined;
    const server = serveEngine({ post: () => undefined, onMessage: (l) => (listener = l) });
    listener!({ init: true, l10n: bundle } satisfies EngineInit);
    const badSize = server.handle("update", { uri, version: 1, text: text.replace(/length: 4KiB/, "length: lots") });
    const d = badSize.diagnostics.find((x) => x.message.includes("Größe"));
    expect(d?.message).toBe('length: "lots" ist keine Größe');
    // Not in the bundle: the English hint.
    expect(d?.hint).toMatch(/^Write bytes or a size with a unit/);
    // (the example expects the error; without the expect the step is an error with a quick fix)
    const noCaching = readFileSync(join(__dirname, "..", "..", "examples", "viommu-no-caching-mode.passthrough.yaml"), "utf8").replace(/\n\s*expect: \{ error: caching-mode-required \}/, "");
    const st = server.handle("update", { uri: "file:///x/cm.passthrough.yaml", version: 1, text: noCaching });
    const titles = st.diagnostics.flatMap((x) => x.fixes ?? []).map((f) => f.title);
    expect(titles).toContain("caching-mode für die vIOMMU von nested einschalten");
  });

  it("the sidebar trees' fixed labels use the bundle too", () => {
    let listener: ((m: unknown) => void) | undefined;
    const server = serveEngine({ post: () => undefined, onMessage: (l) => (listener = l) });
    listener!({ init: true, l10n: { "IOMMU group {0}": "IOMMU-Gruppe {0}", "Root table": "Root-Tabelle" } } satisfies EngineInit);
    server.handle("update", { uri, version: 1, text });
    const [groups] = server.handle("children", { uri, view: "groups", ids: [null], radix: "hex" });
    expect(groups!.map((g) => g.label)).toContain("IOMMU-Gruppe 1");
    const [tables] = server.handle("children", { uri, view: "tables", ids: [null], radix: "hex" });
    const [kids] = server.handle("children", { uri, view: "tables", ids: [tables![0]!.id], radix: "hex" });
    expect(kids!.map((k) => k.label)).toContain("Root-Tabelle");
  });

  it("the strings that were still English literals: Registers and IOTLB, the scenario reader's encoding, nesting and invisible-key diagnostics", () => {
    let listener: ((m: unknown) => void) | undefined;
    const server = serveEngine({ post: () => undefined, onMessage: (l) => (listener = l) });
    const bundle = {
      Registers: "Register",
      IOTLB: "IOTLB (Übersetzungspuffer)",
      "the file is UTF-16 text, read here as UTF-8": "die Datei ist UTF-16-Text, hier als UTF-8 gelesen",
      "nested too deeply (limit {0})": "zu tief verschachtelt (Grenze {0})",
      "invisible {0}{1} in key {2}": "unsichtbares {0}{1} im Schlüssel {2}",
      "Delete the invisible character before or inside {0}; it is read as {0} meanwhile.": "Das unsichtbare Zeichen in {0} löschen; bis dahin wird {0} gelesen.",
    };
    listener!({ init: true, l10n: bundle } satisfies EngineInit);
    server.handle("update", { uri, version: 1, text });
    const [tables] = server.handle("children", { uri, view: "tables", ids: [null], radix: "hex" });
    const [kids] = server.handle("children", { uri, view: "tables", ids: [tables![0]!.id], radix: "hex" });
    expect(kids!.map((k) => k.label)).toEqual(expect.arrayContaining(["Register", "IOTLB (Übersetzungspuffer)"]));
    const utf16 = server.handle("update", { uri: "file:///x/u.passthrough.yaml", version: 1, text: "\ufeffn\0a\0m\0e\0:\0 \0x\0\n\0" });
    expect(utf16.diagnostics.map((d) => d.message)).toContain("die Datei ist UTF-16-Text, hier als UTF-8 gelesen");
    const deep = server.handle("update", { uri: "file:///x/d.passthrough.yaml", version: 1, text: `name: x\nhost: ${"[".repeat(400)}` });
    expect(deep.diagnostics.map((d) => d.message)).toContainEqual(expect.stringMatching(/^zu tief verschachtelt \(Grenze \d+\)$/));
    const bom = server.handle("update", { uri: "file:///x/b.passthrough.yaml", version: 1, text: text.replace("\nhost:", "\n\u200bhost:") });
    const inv = bom.diagnostics.find((d) => d.code === "invisible-character");
    expect(inv?.message).toMatch(/^unsichtbares U\+200B im Schlüssel "host"$/);
    expect(inv?.hint).toBe('Das unsichtbare Zeichen in "host" löschen; bis dahin wird "host" gelesen.');
  });

  it("without a bundle the hovers are the English text", () => {
    const { hover } = worker({ init: true });
    expect(hover('bdf: "04:00.0"', 8)).toMatch(/^- IOMMU group \d+: `04:00\.0` — viable$/m);
    expect(hover("iova: 0x10_2000, length: 4KiB, write: true", 9)).toMatch(/^\*\*`04:00\.0` write: fault 0x05/);
  });
});
