// Every example is a self-checking scenario: it must pass under `passthrough simulate`, through
// the library call and through the built CLI, exactly as a user runs it.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { simulateText } from "../../src/cli/simulate.js";

const root = join(__dirname, "..", "..");
const examplesDir = join(root, "examples");
const examples = readdirSync(examplesDir).filter((f) => f.endsWith(".passthrough.yaml")).sort();
const cli = join(root, "dist", "cli.mjs");

beforeAll(() => {
  if (!existsSync(cli)) execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root });
});

describe("examples", () => {
  it("there are at least eight", () => {
    expect(examples.length).toBeGreaterThanOrEqual(8);
  });

  for (const f of examples) {
    it(`${f} runs and every expectation holds`, () => {
      const r = simulateText(readFileSync(join(examplesDir, f), "utf8"), `examples/${f}`);
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      const failures = r.steps.filter((s) => s.expect && !s.expect.pass).map((s) => `line ${s.line}: ${s.expect!.failures.join("; ")}`);
      expect(failures).toEqual([]);
      expect(r.expectations.passed).toBeGreaterThan(0);
      expect(r.exitCode).toBe(0);
    });
  }

  it("all pass under the built CLI", () => {
    const res = spawnSync(process.execPath, [cli, "simulate", ...examples.map((f) => join(examplesDir, f))], { encoding: "utf8" });
    expect(res.stderr).toBe("");
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/expectations: \d+ passed, 0 failed/);
  });
});

describe("CLI exit codes", () => {
  const dir = mkdtempSync(join(tmpdir(), "pt-cli-"));

  it("2 with file:line:col: code: message for an invalid scenario", () => {
    const file = join(dir, "bad.passthrough.yaml");
    writeFileSync(file, `host:\n  iommu: { model: intel-vtd }\n  pci:\n    - { bdf: "01:20.0" }\n`);
    const res = spawnSync(process.execPath, [cli, "simulate", file], { encoding: "utf8" });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:4:\\d+: error bdf-malformed: `, "m"));
    expect(res.stderr).toMatch(/hint: /);
  });

  it("1 when an expectation fails, naming the line and what happened", () => {
    const file = join(dir, "fails.passthrough.yaml");
    writeFileSync(
      file,
      [
        "host:",
        "  iommu: { model: intel-vtd }",
        "  pci:",
        '    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }',
        '    - { bdf: "01:00.0", parent: "00:01.0", driver: vfio-pci }',
        "vms:",
        '  - { name: a, memory: 1GiB, devices: ["01:00.0"] }',
        "workload:",
        "  - start: a",
        '  - dma: { device: "01:00.0", iova: 0x8000_0000, write: true }',
        "    expect: ok",
        "",
      ].join("\n"),
    );
    const res = spawnSync(process.execPath, [cli, "simulate", file], { encoding: "utf8" });
    expect(res.status).toBe(1);
    expect(res.stdout).toContain(`${file}:10: expected success, got fault 0x05 PTE Write access is not set`);
  });

  it("--json gives a machine-readable report", () => {
    const res = spawnSync(process.execPath, [cli, "simulate", "--json", join(examplesDir, "memlock-too-small.passthrough.yaml")], { encoding: "utf8" });
    expect(res.status).toBe(0);
    const j = JSON.parse(res.stdout) as { steps: unknown[]; dmesg: string[] };
    expect(j.steps[0]).toMatchObject({ op: "start", status: "errno", errno: "ENOMEM" });
    expect(j.dmesg.some((l: string) => l.endsWith("] vfio_pin_pages_remote: RLIMIT_MEMLOCK (65536) exceeded"))).toBe(true);
  });
});
