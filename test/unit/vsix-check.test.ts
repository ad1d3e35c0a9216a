// The checks scripts/package.mjs runs on the VSIX it makes (npm test packages it): a VSIX that
// ships development files, grows past 1 MB, or lacks a file its manifest or README names fails
// with the reason, before anyone installs it.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkVsix, relativeLinks, imageSources, manifestFiles, MAX_VSIX_BYTES } from "../../scripts/vsix-check.mjs";
import { packagedReadme, PACKAGED_README } from "../../scripts/package-readme.mjs";

const root = join(__dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as unknown;
const readme = "# Passthrough Debugger\n\n![The sidebar](https://example.org/sidebar.png)\n\nSee [the examples](examples/healthy-nic.passthrough.yaml), [VT-d](https://example.org/vtd) and [limits](#known-limits).\n";

/** A listing shaped like the real VSIX's: every file the manifest names, the bundles, an example. */
function goodEntries(): Map<string, number> {
  const files = ["[Content_Types].xml", "extension.vsixmanifest", "extension/readme.md", "extension/changelog.md", "extension/LICENSE.txt", "extension/package.json", "extension/dist/worker.cjs", "extension/dist/web/worker.js", "extension/dist/webview.js", "extension/media/trace.css", "extension/examples/healthy-nic.passthrough.yaml", "extension/package.nls.json"];
  for (const f of manifestFiles(pkg)) files.push(`extension/${f}`);
  return new Map(files.map((f) => [f, 1000]));
}
const check = (over: { entries?: Map<string, number>; bytes?: number; readme?: string } = {}): string[] =>
  checkVsix({ entries: over.entries ?? goodEntries(), bytes: over.bytes ?? 400_000, pkg, readme: over.readme ?? readme });

describe("VSIX checks", () => {
  it("pass a VSIX with only shipped files that names nothing missing", () => {
    expect(check()).toEqual([]);
  });

  it("fail at 1 MB and say the size and the limit", () => {
    expect(check({ bytes: MAX_VSIX_BYTES - 1 })).toEqual([]);
    expect(check({ bytes: MAX_VSIX_BYTES })).toEqual([`the VSIX is ${MAX_VSIX_BYTES} bytes, the limit is ${MAX_VSIX_BYTES}`]);
  });

  it("reject source maps, sources, tests, docs and anything not allow-listed", () => {
    for (const dev of ["extension/dist/extension.cjs.map", "extension/src/extension/extension.ts", "extension/test/unit/x.test.ts", "extension/docs/development.md", "extension/.e2e/x", "extension/node_modules/yaml/index.js", "extension/scripts/package.mjs"]) {
      const entries = goodEntries().set(dev, 10);
      const problems = check({ entries });
      expect(problems, dev).toHaveLength(1);
      expect(problems[0]).toContain(dev);
    }
    expect(check({ entries: goodEntries().set("extension/tsconfig.json", 10) })).toEqual(["extension/tsconfig.json: not in the allow-list of scripts/vsix-check.mjs"]);
  });

  it("name a file the manifest needs that is missing (main, icon, grammar, schema)", () => {
    for (const f of ["dist/extension.cjs", "media/icon.png", "syntaxes/passthrough.tmLanguage.json", "schemas/passthrough.schema.json"]) {
      const entries = goodEntries();
      entries.delete(`extension/${f}`);
      expect(check({ entries }), f).toEqual([`extension/${f} is missing (package.json names it)`]);
    }
  });

  it("name a file the code loads that is missing (the worker loader, the engine bundle it runs, the webview's script and style)", () => {
    for (const f of ["dist/worker.cjs", "dist/web/worker.js", "dist/webview.js", "media/trace.css"]) {
      const entries = goodEntries();
      entries.delete(`extension/${f}`);
      expect(check({ entries }), f).toEqual([`extension/${f} is missing (the extension loads it)`]);
    }
  });

  it("name a link of the README that would be broken on the details page", () => {
    const entries = goodEntries();
    entries.delete("extension/examples/healthy-nic.passthrough.yaml");
    expect(check({ entries })).toEqual(["extension/examples/healthy-nic.passthrough.yaml is missing (the README links to it; it would be broken on the details page)"]);
    expect(check({ readme: `${readme}\n[Architecture](docs/development.md)\n` })).toEqual(["extension/docs/development.md is missing (the README links to it; it would be broken on the details page)"]);
  });

  // VS Code's details page drops an image whose source is not http(s) (a relative path into the
  // VSIX and a data: URI both showed broken in code-server), and the Marketplace wants https.
  it("reject README images that are not https", () => {
    for (const src of ["media/readme/sidebar.png", "./media/a.png", "data:image/png;base64,iVBORw0KGgo=", "http://example.org/a.png"]) {
      expect(check({ readme: `${readme}\n![x](${src})\n` }), src).toEqual([`readme.md: the image ${src} would be broken on the details page (it shows https: images only)`]);
    }
    expect(check({ readme: `${readme}\n<img src="media/e.png" width=3>\n` })).toHaveLength(1);
  });

  it("read relative links, not images, URLs or anchors", () => {
    expect(relativeLinks('![a](./media/a.png "t") [b](<docs/b.md>) [c](https://x.org/c.png) [d](#d) [e](./examples/e.yaml#x) [f](mailto:x@y)')).toEqual(["docs/b.md", "examples/e.yaml"]);
  });
});

// A bare `vsce package` (no flags) must work (issue 18). vsce 4.1.0 refuses a README with a relative
// link or image when it knows no repository ("Couldn't detect the repository where this extension
// is published. The image 'media/readme/sidebar.png' will be broken in README.md"), and VS Code's
// details page would not show a relative image anyway (scripts/package-readme.mjs says where).
describe("the README a bare vsce package ships", () => {
  const manifest = pkg as { scripts: Record<string, string>; vsce?: Record<string, unknown> };
  const source = readFileSync(join(root, "README.md"), "utf8");
  const shipped = packagedReadme(source);

  it("is the one vscode:prepublish writes and package.json's vsce options name, with no repository and no dependencies", () => {
    expect(manifest.scripts["vscode:prepublish"]).toContain("node scripts/package-readme.mjs");
    expect(manifest.vsce).toMatchObject({ readmePath: PACKAGED_README, allowMissingRepository: true, dependencies: false });
  });

  it("has nothing vsce would have to rewrite against a repository: only https images, links only to shipped files, URLs and anchors", () => {
    // vsce's own pattern for Markdown links and images (out/package.js, ReadmeProcessor.processFile).
    const vsceLinks = [...shipped.matchAll(/(!?)\[([^\][]*|!\[[^\][]*]\([^)]+\))\]\(([^)]+)\)/g)];
    for (const m of vsceLinks) {
      const [, image, , link] = m as unknown as [string, string, string, string];
      if (image) expect(link, m[0]).toMatch(/^https:/);
      else expect(link, m[0]).toMatch(/^(https?:|mailto:|#|(media|examples|schemas|syntaxes)\/)/);
    }
    expect(imageSources(shipped).filter((src) => !src.startsWith("https:"))).toEqual([]);
    expect(check({ readme: shipped })).toEqual([]);
  });

  it("keeps the README's text: a link into the source becomes its text and path, a screenshot is left out", () => {
    expect(packagedReadme("Read [the guide](docs/user-guide.md) and [docs/testing.md](docs/testing.md).\n")).toBe("Read the guide (`docs/user-guide.md` in the source) and `docs/testing.md` (in the source).\n");
    expect(packagedReadme("Text.\n\n![The sidebar](media/readme/sidebar.png)\n\nMore [an example](examples/a.yaml), [VT-d](https://x.org/v) ![b](https://x.org/b.png) ![c](./c.png).\n")).toBe("Text.\n\nMore [an example](examples/a.yaml), [VT-d](https://x.org/v) ![b](https://x.org/b.png) c.\n");
    // Every screenshot of the repository's README is one the details page could not show.
    expect(imageSources(source).length).toBeGreaterThan(0);
    for (const heading of source.match(/^#+ .*$/gm) ?? []) expect(shipped).toContain(heading);
  });
});

describe("the repository", () => {
  // A placeholder host ended up in the manifest and in vsce's base URLs once: the details page
  // linked every image there. No file we ship or build with may name one.
  it("names no placeholder host", () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(join(root, dir))) {
        const rel = dir ? `${dir}/${name}` : name;
        if (/^(node_modules|\.git|\.e2e|dist|out|test-results|tmp)$/.test(name)) continue;
        if (statSync(join(root, rel)).isDirectory()) walk(rel);
        else if (/\.(json|md|mjs|cjs|ts|yaml|yml)$/.test(name) && rel !== "test/unit/vsix-check.test.ts" && /example\.invalid/.test(readFileSync(join(root, rel), "utf8"))) offenders.push(rel);
      }
    };
    walk("");
    expect(offenders).toEqual([]);
  });
});
