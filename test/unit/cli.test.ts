// The command line as a user types it: strict arguments (a typo is an error with usage, exit 2,
// never a silently ignored flag or a file named "--jsno"), and `simulate --json` carrying per step
// everything the text shows and more.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EVIDENCE_KINDS, parseCommandLine, UsageError, USAGE } from "../../src/cli/args.js";
import { runCli, type CliIo } from "../../src/cli/cli.js";
import { simulateText } from "../../src/cli/simulate.js";
import { USAGE_ERROR_CODES } from "../../src/protocol/diagnostics.js";
import { cli } from "./helpers.js";

const root = join(__dirname, "..", "..");
const example = join(root, "examples", "write-to-readonly.passthrough.yaml");

describe("CLI arguments", () => {
  it("simulate --jsno is a usage error: exit 2, the option named with a hint, the usage, nothing run", async () => {
    const r = await cli("simulate", "--jsno", example);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toContain("passthrough: error unknown-option: simulate: unknown option --jsno; did you mean --json?");
    expect(r.err).toContain(USAGE);
  });

  it("decode --kind bogus is a usage error naming the kinds", async () => {
    const r = await cli("decode", "--kind", "bogus", example);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toContain(`passthrough: error invalid-option-value: decode: --kind "bogus" is not one of ${EVIDENCE_KINDS.join(", ")}`);
    expect(r.err).toContain(USAGE);
    expect((await cli("explain", "--kind", "grups", example)).err).toContain("did you mean groups?");
  });

  it("missing files, missing option values, values given to flags and bad bench numbers are usage errors", async () => {
    for (const argv of [["simulate"], ["simulate", "--json"], ["decode", "--kind"], ["explain", "x.log", "--trace"], ["simulate", "--json=yes", example], ["synthesize", "--kind", "log", "x"], ["bench", "ten"], ["bench", "1", "2", "3"], ["simulat", example]]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.err, argv.join(" ")).toContain(USAGE);
    }
    expect((await cli("simulat", example)).err).toContain('unknown command "simulat"; did you mean simulate?');
    expect((await cli("explain", "x.log", "--trace")).err).toContain("--trace needs a value");
  });

  it("every usage error carries a code from the one list (protocol/diagnostics.ts), printed before its message", async () => {
    const cases: [string[], string][] = [
      [["simulat", example], "unknown-command"],
      [["simulate", "--jsno", example], "unknown-option"],
      [["explain", "x.log", "--trace"], "option-value-missing"],
      [["simulate", "--json=yes", example], "option-takes-no-value"],
      [["decode", "--kind", "bogus", example], "invalid-option-value"],
      [["simulate", "--json", "--format", "junit", example], "conflicting-options"],
      [["simulate"], "missing-file"],
      [["bench", "1", "2", "3"], "too-many-arguments"],
      [["bench", "ten"], "invalid-argument"],
    ];
    const seen = new Set<string>();
    for (const [argv, code] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.err.split("\n")[0], argv.join(" ")).toMatch(new RegExp(`^passthrough: error ${code}: `));
      seen.add(code);
    }
    // Each code of the list is reachable from some command line.
    expect([...seen].sort()).toEqual([...USAGE_ERROR_CODES].sort());
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom("simulate", "decode", "bench", "--json", "--kind", "--format", "x"), fc.string({ maxLength: 6 })), { maxLength: 6 }), (argv) => {
        try {
          parseCommandLine(argv);
        } catch (e) {
          expect((USAGE_ERROR_CODES as readonly string[]).includes((e as UsageError).code)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("a valid command line still runs: help exits 0, a scenario's expectations decide the exit code", async () => {
    expect((await cli("--help")).code).toBe(0);
    expect((await cli()).code).toBe(2);
    const r = await cli("simulate", "--quiet", example);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/expectations: \d+ passed, 0 failed/);
    expect((JSON.parse((await cli("simulate", example, "--json")).out) as { file: string }).file).toBe(example);
  });

  it("the report names the host's IOMMU model as the scenario does (intel-vtd, amd-vi, smmuv3)", async () => {
    for (const [file, host] of [["healthy-nic", "intel-vtd 48-bit"], ["amd-io-page-fault", "amd-vi 48-bit"], ["smmuv3-translation-fault", "smmuv3 48-bit"]]) {
      const r = await cli("simulate", join(root, "examples", `${file}.passthrough.yaml`));
      expect(r.out, file).toContain(`host: ${host},`);
    }
  });

  it("simulate writes its report through an io object whose methods use `this` (a class, as an embedder writes one)", async () => {
    class Collect implements CliIo {
      text = "";
      out(t: string): void {
        this.text += t;
      }
      err(t: string): void {
        this.text += t;
      }
    }
    const io = new Collect();
    expect(await runCli(["simulate", "--quiet", example], io)).toBe(0);
    expect(io.text).toMatch(/expectations: \d+ passed, 0 failed/);
  });

  it("parses each command's options and files, in any order", () => {
    expect(parseCommandLine(["decode", "--json", "a.log", "--kind", "groups", "b.txt"])).toEqual({ cmd: "decode", files: ["a.log", "b.txt"], json: true, kind: "groups" });
    expect(parseCommandLine(["explain", "a.log", "--trace=t.txt"])).toEqual({ cmd: "explain", files: ["a.log"], json: false, trace: "t.txt" });
    expect(parseCommandLine(["bench", "1000", "2", "--dump"])).toEqual({ cmd: "bench", n: 1000, reps: 2, dump: true });
    expect(parseCommandLine(["bench", "1000", "--mode", "nested"])).toEqual({ cmd: "bench", n: 1000, reps: 3, dump: false, mode: "nested" });
    expect(() => parseCommandLine(["bench", "--mode", "smm"])).toThrow(/--mode "smm" is not one of legacy, scalable, nested/);
    // After "--" a name starting with a dash is a file.
    expect(parseCommandLine(["simulate", "--", "--odd.yaml"])).toEqual({ cmd: "simulate", files: ["--odd.yaml"], json: false, quiet: false, format: "text" });
  });

  it("any argument list either parses or is a UsageError (never another exception), and an unknown --option never parses", () => {
    const word = fc.oneof(fc.constantFrom("simulate", "decode", "explain", "synthesize", "bench", "help", "--json", "--quiet", "--kind", "--trace", "--dump", "--", "-x", "log", "7"), fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.array(word, { maxLength: 7 }), (argv) => {
        try {
          parseCommandLine(argv);
        } catch (e) {
          expect(e).toBeInstanceOf(UsageError);
        }
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.constantFrom("simulate", "decode", "explain", "synthesize", "bench"), fc.stringMatching(/^[a-z]{2,8}$/), (cmd, opt) => {
        fc.pre(!["json", "quiet", "kind", "trace", "dump"].includes(opt));
        expect(() => parseCommandLine([cmd, `--${opt}`, "f"])).toThrow(UsageError);
      }),
    );
  });
});

describe("simulate --json", () => {
  const text = `name: json report
host:
  memory: 64GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1, driver: pcieport }
    - { bdf: "01:00.0", id: "8086:1572", name: X710, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: web01
    memory: 4GiB
    devices: ["01:00.0"]
workload:
  - start: web01
  - dma: { device: "01:00.0", iova: 0x1000_0800, length: 12KiB, write: true, repeat: 3 }
  - dma: { device: "01:00.0", iova: 0xc000_0000, length: 8KiB, write: false, repeat: 5 }
  - translate: { device: "01:00.0", iova: 0x1000_0000 }
  - map: { vm: web01, iova: 0x1000_0000, size: 4KiB, perm: rw }
    expect: { errno: EEXIST }
`;
  const r = simulateText(text, "t.passthrough.yaml", { detail: true });

  it("a dma step: translated ranges with their HPA (repeats counted), IOTLB hits and misses", () => {
    const s = r.steps[1]!;
    const d = s.dma!;
    expect(d.transactions).toBe(s.transactions);
    expect(d.transactions).toBe(3 * 4); // 12 KiB from 0x800 touches 4 pages, 3 times
    expect(d.iotlb.hits + d.iotlb.misses).toBe(d.transactions);
    expect(d.iotlb.misses).toBeGreaterThan(0);
    expect(d.iotlb.hits).toBeGreaterThan(0);
    expect(d.faulting).toBe(0);
    // Every byte of every repetition is in exactly one listed range.
    expect(d.translated.reduce((n, x) => n + x.size * x.count, 0)).toBe(3 * 12 * 1024);
    expect(d.translated.every((x) => x.count === 3 && x.write)).toBe(true);
    expect(d.translated[0]!.iova).toBe("0x10000800");
    // The first transaction's HPA is the one the text's summary and `expect: { hpa }` use.
    const probe = r.steps[3]!;
    expect(probe.op).toBe("translate");
    expect(BigInt(d.translated[0]!.hpa)).toBe(BigInt(probe.hpa!) + 0x800n);
    expect(probe.iotlb).toBe("hit");
  });

  it("a faulting dma step: the faulting transaction count, each fault's record and whether it was recorded", () => {
    const s = r.steps[2]!;
    const d = s.dma!;
    expect(d.transactions).toBe(10);
    expect(d.faulting).toBe(10);
    expect(d.translated).toEqual([]);
    expect(d.fates.recorded + d.fates["suppressed-fpd"] + d.fates.overflow + d.fates.compressed).toBe(10);
    expect(d.fates.recorded).toBeGreaterThanOrEqual(1);
    expect(d.faults.reduce((n, f) => n + f.count, 0)).toBe(10);
    const first = d.faults[0]!;
    expect(first).toMatchObject({ iova: "0xc0000000", sid: "01:00.0", write: false, reason: s.fault, fate: "recorded", recorded: true });
    expect(first.reasonText).toBe(s.faultText);
    // Linux's rendering of the recorded fault is in the step's own dmesg lines.
    expect(s.dmesg.some((l) => l.includes("fault addr 0xc0000000") && l.includes(`[fault reason 0x${s.fault!.toString(16).padStart(2, "0")}]`))).toBe(true);
    expect(r.steps[1]!.dmesg).toEqual([]);
  });

  it("an errno step: the name, value and strerror text", () => {
    expect(r.steps[4]).toMatchObject({ op: "map", status: "errno", errno: "EEXIST", errnoValue: 17, errnoText: "File exists" });
  });

  it("the report of an example survives JSON (no bigint, no undefined holes)", () => {
    const rep = simulateText(readFileSync(example, "utf8"), "x", { detail: true });
    expect(JSON.parse(JSON.stringify(rep))).toEqual(rep);
  });
});

describe("passthrough export", () => {
  it("writes a scenario's VM as a QEMU command line (default) and as libvirt XML, which import back to the same VM", async () => {
    const { importText } = await import("../../src/import/index.js");
    const q = await cli("export", example);
    expect(q.code).toBe(0);
    expect(q.out).toMatch(/^qemu-system-x86_64 \\\n/);
    expect(importText(q.out).kind).toBe("qemu");
    const x = await cli("export", "--format", "libvirt", example);
    expect(x.code).toBe(0);
    expect(x.out).toMatch(/^<domain type='kvm'>/);
    const hostdevs = (t: string) => importText(t).records.flatMap((r) => (typeof r.fields.hostdev === "string" ? [r.fields.hostdev] : []));
    expect(hostdevs(x.out)).toEqual(hostdevs(q.out));
    expect(hostdevs(q.out).length).toBeGreaterThan(0);
  });

  it("a bad format, an unknown VM, two files or a broken scenario is exit 2 with the reason", async () => {
    const f = await cli("export", "--format", "libvrt", example);
    expect(f.code).toBe(2);
    expect(f.err).toContain('passthrough: error invalid-option-value: export: --format "libvrt" is not one of qemu, libvirt; did you mean libvirt?');
    const v = await cli("export", "--vm", "nope", example);
    expect(v.code).toBe(2);
    expect(v.err).toMatch(/no VM named "nope" \(VMs: /);
    expect((await cli("export", example, example)).code).toBe(2);
    const broken = join(root, "test", "fixtures", "evidence", "groups.txt");
    const b = await cli("export", broken);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/groups\.txt:\d+:\d+: error /);
  });
});
