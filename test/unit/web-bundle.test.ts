// VS Code for the Web and Restricted Mode (issue 18): the manifest declares the browser entry and
// the capabilities, the web bundles that `npm run build` makes load no Node built-in (the browser's
// web worker extension host has no `require` but its own for "vscode"), and inside the extension's
// host code Node is reached only through platform.ts, which the web build replaces.
// The bundles are built by `npm run build` (npm test builds before the unit tests).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(__dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  type?: string;
  main: string;
  browser?: string;
  capabilities?: { untrustedWorkspaces?: { supported: boolean | "limited"; description?: string }; virtualWorkspaces?: boolean | { supported: boolean | "limited"; description?: string } };
};
const WEB_EXTENSION = join(root, pkg.browser ?? "dist/web/extension.cjs");
const WEB_WORKER = join(root, "dist", "web", "worker.js");
const built = existsSync(WEB_EXTENSION) && existsSync(WEB_WORKER);

/**
 * Every module code asks for: require("x"), import("x") and, in TypeScript sources (`esm`), import
 * … from "x" (a bundle is CommonJS or a classic script; there "from" only occurs in strings).
 */
function requested(code: string, esm = false): string[] {
  const out = new Set<string>();
  const forms = [/\brequire\(\s*["'`]([^"'`]+)["'`]\s*\)/g, /\bimport\(\s*["'`]([^"'`]+)["'`]\s*\)/g];
  if (esm) forms.push(/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm);
  for (const re of forms) {
    for (const m of code.matchAll(re)) out.add(m[1]!);
  }
  return [...out].sort();
}
const NODE = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

describe("the manifest for the web and Restricted Mode", () => {
  it("has a browser entry that the web worker host loads as CommonJS", () => {
    expect(pkg.browser).toBe("./dist/web/extension.cjs");
    // With "type": "module" the web worker host loads a .js entry as ESM, which it refuses.
    if (pkg.type === "module") expect(pkg.browser).toMatch(/\.cjs$/);
    const ignore = readFileSync(join(root, ".vscodeignore"), "utf8").split("\n");
    expect(ignore).toContain("!dist/web/extension.cjs");
    expect(ignore).toContain("!dist/web/worker.js");
  });

  it("runs in untrusted and virtual workspaces (it executes nothing from the workspace; files go through workspace.fs)", () => {
    expect(pkg.capabilities?.untrustedWorkspaces).toEqual({ supported: true });
    expect(pkg.capabilities?.virtualWorkspaces).toBe(true);
  });

  it("reaches Node from the extension host code only through platform.ts", () => {
    const dir = join(root, "src", "extension");
    const offenders: string[] = [];
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".ts") && f !== "platform.ts")) {
      for (const m of requested(readFileSync(join(dir, f), "utf8"), true)) if (NODE.has(m)) offenders.push(`${f}: ${m}`);
    }
    expect(offenders).toEqual([]);
  });
});

describe("the web bundles", () => {
  it("are built (npm run build)", () => {
    expect(built, `${WEB_EXTENSION} and ${WEB_WORKER} are missing: run npm run build`).toBe(true);
  });

  it.runIf(built)("ask for no Node built-in: the extension only for vscode, the worker for nothing", () => {
    expect(requested(readFileSync(WEB_EXTENSION, "utf8"))).toEqual(["vscode"]);
    expect(requested(readFileSync(WEB_WORKER, "utf8"))).toEqual([]);
  });

  it.runIf(built)("carry none of the Node-only code paths", () => {
    for (const f of [WEB_EXTENSION, WEB_WORKER]) {
      const code = readFileSync(f, "utf8");
      expect(code).not.toMatch(/worker_threads|createReadStream|resourceLimits|maxOldGenerationSizeMb/);
      expect(code).not.toMatch(/\bBuffer\.from\(/);
    }
  });
});
