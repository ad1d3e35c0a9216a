// "-" names standard input, as cat, grep and jq read it: `dmesg | passthrough explain -`,
// `generate | passthrough simulate -`. What stdin gives is what the same bytes in a file give,
// named "<stdin>"; explain's second pass reads a private copy that is removed afterwards.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type CliIo } from "../../src/cli/cli.js";
import { cli } from "./helpers.js";

const root = join(__dirname, "..", "..");
const fixtures = join(root, "test", "fixtures", "evidence");
const realWorld = join(fixtures, "real-world.txt");
const scenario = join(root, "examples", "write-to-readonly.passthrough.yaml");
const tmp = mkdtempSync(join(tmpdir(), "passthrough-cli-stdin-"));
const cliBundle = join(tmp, "cli.mjs");

beforeAll(async () => {
  const { buildCli } = (await import(join(root, "scripts", "cli-build.mjs"))) as { buildCli: (out: string, extra?: object) => Promise<unknown> };
  await buildCli(cliBundle, { sourcemap: false });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the CLI with `input` on standard input, in chunks of `chunk` bytes (a pipe hands out pieces). */
async function piped(input: Uint8Array | undefined, chunk: number, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t) };
  if (input !== undefined) {
    io.stdin = () => {
      const parts: Uint8Array[] = [];
      for (let at = 0; at < input.length; at += chunk) parts.push(input.subarray(at, at + chunk));
      return Readable.from(parts);
    };
  }
  const code = await runCli(argv, io);
  return { code, out, err };
}

/** The file's output with its name replaced by the name stdin gets. */
const asStdin = (text: string, file: string) => text.split(file).join("<stdin>");

const spools = () => readdirSync(tmpdir()).filter((n) => n.startsWith("passthrough-stdin-"));

describe('"-" reads standard input', () => {
  const log = readFileSync(realWorld);

  it("decode - (text and --json) gives what decode FILE gives, named <stdin>, in any chunking", async () => {
    for (const json of [false, true]) {
      const flags = json ? ["--json"] : [];
      const fromFile = await cli("decode", ...flags, realWorld);
      expect(fromFile.code).toBe(0);
      for (const chunk of [1 << 18, 4096, 7]) {
        const r = await piped(log, chunk, "decode", ...flags, "-");
        expect(r.code, `chunk ${chunk}`).toBe(0);
        expect(r.out, `chunk ${chunk}`).toBe(asStdin(fromFile.out, realWorld));
        expect(r.err).toBe(asStdin(fromFile.err, realWorld));
      }
    }
  });

  it("explain - reads the input twice (context, then explanations) and matches explain FILE; its copy is removed", async () => {
    const before = spools();
    const fromFile = await cli("explain", realWorld);
    const r = await piped(log, 1000, "explain", "-");
    expect(fromFile.out).toContain("Likely causes");
    expect(r.code).toBe(fromFile.code);
    expect(r.out).toBe(asStdin(fromFile.out, realWorld));
    expect(spools()).toEqual(before);
    // Beside a file, the file's configuration still ranks stdin's faults (the same two passes).
    const both = await piped(log, 1000, "explain", "--json", "-", join(fixtures, "groups.txt"));
    const files = await cli("explain", "--json", realWorld, join(fixtures, "groups.txt"));
    expect(both.out).toBe(asStdin(files.out, realWorld));
  });

  it("simulate - and export - read a scenario from stdin, with its diagnostics at <stdin>:line:col", async () => {
    const text = readFileSync(scenario);
    const fromFile = await cli("simulate", scenario);
    const r = await piped(text, 512, "simulate", "-");
    expect(r.code).toBe(fromFile.code);
    expect(r.out).toBe(asStdin(fromFile.out, scenario));
    const bad = await piped(Buffer.from("host:\n  iommu: { model: intel-vtd }\nvms: 3\n"), 64, "simulate", "-");
    expect(bad.code).toBe(2);
    expect(bad.out + bad.err).toMatch(/<stdin>:\d+:\d+: error/);
    const qemu = await piped(text, 512, "export", "-");
    expect(qemu.code).toBe(0);
    expect(qemu.out).toBe((await cli("export", scenario)).out);
  });

  it("synthesize - names the scenario after <stdin>", async () => {
    const r = await piped(log, 4096, "synthesize", "-");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^# Reproduced from <stdin>/);
    expect(r.out).toBe(asStdin((await cli("synthesize", realWorld)).out, "real-world.txt"));
  });

  it("without standard input, or given twice, it is a read error for that input, not a crash", async () => {
    const none = await piped(undefined, 1, "decode", "-");
    expect(none.code).toBe(2);
    expect(none.err).toContain("<stdin>: cannot read: ENOSTDIN");
    // Standard input is spent after the first "-": the second reads nothing, as `cat - -` does.
    const twice = await piped(log, 4096, "decode", "--json", "-", "-");
    const runs = JSON.parse(twice.out) as { records: unknown[] }[];
    expect(runs).toHaveLength(2);
    expect(runs[0]!.records.length).toBeGreaterThan(0);
    expect(runs[1]!.records).toHaveLength(0);
  });

  it("the built executable reads a real pipe: dmesg | passthrough explain -", () => {
    const r = spawnSync(process.execPath, [cliBundle, "explain", "-"], { input: log, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^<stdin>:\d+: /);
    expect(r.stdout).toBe(asStdin(spawnSync(process.execPath, [cliBundle, "explain", realWorld], { encoding: "utf8" }).stdout, realWorld));
  });
});
