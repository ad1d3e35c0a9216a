// The CLI holds where fuzzing broke it (issue 18): bad bench arguments, a reader that is slow or
// goes away (`| head`), a file that cannot be read at the end of `decode --json`, lines longer
// than any record, and terminal escape sequences in names and file names.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { USAGE } from "../../src/cli/args.js";
import { runCli } from "../../src/cli/cli.js";
import { StreamIo, terminalSafe } from "../../src/cli/output.js";
import { StreamParser } from "../../src/import/stream.js";
import { MAX_LINE } from "../../src/import/lines.js";
import { cli } from "./helpers.js";

const root = join(__dirname, "..", "..");
const fixtures = join(root, "test", "fixtures", "evidence");
const realWorld = readFileSync(join(fixtures, "real-world.txt"), "utf8");
const tmp = mkdtempSync(join(tmpdir(), "passthrough-cli-holds-"));
/** A generated log: the real-world fixture (faults, groups, VFIO messages) repeated. */
const genLog = join(tmp, "gen.log");
writeFileSync(genLog, realWorld.repeat(200));
/** Larger: its output is several slices' worth. */
const bigLog = join(tmp, "big.log");
writeFileSync(bigLog, realWorld.repeat(1400));
/** The CLI bundled from the current source (not a possibly stale dist/). */
const cliBundle = join(tmp, "cli.mjs");

beforeAll(async () => {
  const { buildCli } = (await import(join(root, "scripts", "cli-build.mjs"))) as { buildCli: (out: string, extra?: object) => Promise<unknown> };
  await buildCli(cliBundle, { sourcemap: false });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("bench arguments", () => {
  it("every bad N or REPS is exit 2 with the usage, never a stack trace", async () => {
    const bad = [["0"], ["1", "0"], ["1", "17"], ["99999999999999999999"], ["50000001"], ["1.5"], ["1e3"], ["0x10"], [""], ["-1"], ["1", "2", "3"], ["--dump=1"], ["--n", "5"], ["ten"], ["Infinity"], ["NaN"]];
    for (const args of bad) {
      const r = await cli("bench", ...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err, args.join(" ")).toContain(USAGE);
      expect(r.err, args.join(" ")).not.toMatch(/\n\s+at /);
      expect(r.out, args.join(" ")).toBe("");
    }
    expect((await cli("bench", "1", "17")).err).toContain("passthrough: error invalid-argument: bench: REPS must be a whole number from 1 to 16, got \"17\"");
  });

  it("the built executable: a bad bench argument prints one line and the usage, exit 2", () => {
    const r = spawnSync(process.execPath, [cliBundle, "bench", "99999999999999999999"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe('passthrough: error invalid-argument: bench: N must be a whole number from 1 to 50,000,000, got "99999999999999999999"');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("decode --json with files that cannot be read", () => {
  const good = join(fixtures, "mixed-dmesg.txt");
  const groups = join(fixtures, "groups.txt");
  const missing = join(tmp, "missing.log");
  for (const files of [[good, missing], [missing, good], [good, missing, groups], [groups, missing], [missing, missing], [missing], [good, tmp]]) {
    it(`is valid JSON for ${files.map((f) => (f === tmp ? "a directory" : f.split("/").pop())).join(", ")}`, async () => {
      const r = await cli("decode", "--json", ...files);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/cannot read: E[A-Z]+/);
      const readable = files.filter((f) => f === good || f === groups);
      if (files.length === 1) {
        expect(r.out).toBe("");
        return;
      }
      const parsed = JSON.parse(r.out) as { file: string }[];
      expect(parsed.map((x) => x.file)).toEqual(readable);
    });
  }
});

describe("terminal output escapes control characters", () => {
  const hostile = "\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202eevil\u007f";
  const scenario = (name: string) => `name: ${JSON.stringify(name)}
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
`;

  it("simulate: a scenario's name cannot retitle or clear the terminal; --json keeps it exactly", async () => {
    const file = join(tmp, "hostile.passthrough.yaml");
    writeFileSync(file, scenario(hostile));
    const r = await cli("simulate", file);
    expect(r.code).toBe(0);
     
    expect(r.out).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
    expect(r.out).toContain(": \\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202eevil\\x7f\n");
    const j = JSON.parse((await cli("simulate", "--json", file)).out) as { name: string };
    expect(j.name).toBe(hostile);
  });

  it("decode, explain and their messages: a file name with escape sequences is shown escaped", async () => {
    const dir = join(tmp, "names");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "log\u001b[2J\u202e.txt");
    writeFileSync(file, realWorld);
    for (const cmd of ["decode", "explain"]) {
      const r = await cli(cmd, file, join(dir, "gone\u001b]0;x\u0007"));
      expect(r.code).toBe(2);
       
      expect(r.out + r.err, cmd).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]/);
      expect(r.out, cmd).toContain("log\\x1b[2J\\u202e.txt:");
      expect(r.err, cmd).toContain("gone\\x1b]0;x\\x07: cannot read");
    }
    const j = JSON.parse((await cli("decode", "--json", file)).out) as { file: string };
    expect(j.file).toBe(file);
  });

  it("terminalSafe keeps text, tabs and newlines and escapes C0, DEL, C1 and bidi controls", () => {
    expect(terminalSafe("a\tb\nc — ü 中")).toBe("a\tb\nc — ü 中");
    expect(terminalSafe("\r\u0000\u001b\u007f\u0085\u009f\u200e\u202a\u202e\u2066\u2069\u061c")).toBe("\\x0d\\x00\\x1b\\x7f\\x85\\x9f\\u200e\\u202a\\u202e\\u2066\\u2069\\u061c");
    // Zero-width characters: "web01" and "web\u200b01" must not look the same in a terminal.
    expect(terminalSafe("web\u200b01 \u200c\u200d\u2060\ufeff")).toBe("web\\u200b01 \\u200c\\u200d\\u2060\\ufeff");
  });
});

/** A pipe reader that takes a chunk only every few turns of the event loop; records how far behind the writer got. */
function slowReader() {
  let text = "";
  let maxQueued = 0;
  const stream = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString("utf8");
      maxQueued = Math.max(maxQueued, stream.writableLength);
      setImmediate(() => setImmediate(cb));
    },
  });
  return { stream, text: () => text, maxQueued: () => maxQueued };
}

describe("a slow reader (back-pressure)", () => {
  for (const argv of [["decode", "--json"], ["decode"], ["explain"], ["explain", "--json"]]) {
    it(`${argv.join(" ")}: the output waits for the reader instead of piling up in memory, and is complete`, async () => {
      const input = argv[0] === "decode" ? bigLog : genLog;
      const bound = argv.join(" ") === "decode --json" ? 1.5 * (1 << 20) : 1 << 20;
      const reader = slowReader();
      const err = new Writable({ write: (_c, _e, cb) => cb() });
      const io = new StreamIo(reader.stream, err);
      const code = await runCli([...argv, input], io);
      await io.end();
      expect(code).toBe(0);
      const expected = await cli(...argv, input);
      expect(reader.text()).toBe(expected.out);
      expect(expected.out.length).toBeGreaterThan(2 * bound);
      // At most about one slice's output queued (a few thousand lines': bounded whatever the input); the whole output was, before (the cause of ENOBUFS).
      expect(reader.maxQueued()).toBeLessThan(bound);
    });
  }
});

describe("decode --json piped into a slow reading process (the ENOBUFS of issue 18)", () => {
  it("the CLI queues at most about one slice of output in its stdout pipe, exits 0 and the reader gets all of it as valid JSON", () => {
    const input = join(tmp, "pipe.log");
    writeFileSync(input, realWorld.repeat(2500));
    // In the CLI's process: how much output its stdout had queued at most (what grew to the whole
    // output, and then to ENOBUFS, when the CLI did not wait for the pipe), and its peak RSS.
    const hook = join(tmp, "queued-hook.mjs");
    writeFileSync(
      hook,
      `let maxQueued = 0;
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (...a) => { const r = write(...a); maxQueued = Math.max(maxQueued, process.stdout.writableLength); return r; };
process.on("exit", () => process.stderr.write("maxQueued=" + maxQueued + " maxRSS=" + process.resourceUsage().maxRSS + "\\n"));
`,
    );
    // Another process that reads slowly: it lets the pipe fill first, then takes one chunk per timer tick.
    const reader = join(tmp, "slow-reader.mjs");
    writeFileSync(
      reader,
      `const parts = [];
process.stdin.pause();
setTimeout(() => {
  process.stdin.on("data", (c) => { parts.push(c); process.stdin.pause(); setTimeout(() => process.stdin.resume(), 1); });
  process.stdin.resume();
}, 200);
process.stdin.on("end", () => {
  const text = Buffer.concat(parts).toString("utf8");
  const json = JSON.parse(text);
  const records = (json.files ?? [json]).flatMap((f) => f.records ?? []).length;
  process.stderr.write("read=" + text.length + " records=" + records + " chunks=" + parts.length + "\\n");
});
`,
    );
    const r = spawnSync("bash", ["-c", `"$0" --import "$1" "$2" decode --json "$3" | "$0" "$4"; echo "status=\${PIPESTATUS[0]}/\${PIPESTATUS[1]}" >&2`, process.execPath, hook, cliBundle, input, reader], { encoding: "utf8", maxBuffer: 1 << 20 });
    const err = r.stderr;
    expect(err).not.toMatch(/ENOBUFS|EPIPE|Error/);
    expect(err).toMatch(/status=0\/0/);
    const queued = Number(/maxQueued=(\d+)/.exec(err)?.[1]);
    const read = Number(/read=(\d+)/.exec(err)?.[1]);
    const records = Number(/records=(\d+)/.exec(err)?.[1]);
    const chunks = Number(/chunks=(\d+)/.exec(err)?.[1]);
    // The reader was slow: it took the output in many reads.
    expect(chunks).toBeGreaterThan(50);
    expect(read).toBeGreaterThan(8 * (1 << 20));
    expect(records).toBeGreaterThan(0);
    // Bounded: about one slice's output, whatever the input (25 MB of 26 MB were queued without back-pressure).
    expect(queued).toBeLessThan(1.5 * (1 << 20));
  });
});

describe("a reader that goes away (| head)", () => {
  for (const argv of [["decode"], ["decode", "--json"], ["explain"], ["explain", "--json"], ["synthesize"]]) {
    it(`${argv.join(" ")} | head -n 1 exits quietly with status 0`, () => {
      const r = spawnSync("bash", ["-c", `"$0" "$1" ${argv.join(" ")} "$2" | head -n 1 >/dev/null; echo "status=\${PIPESTATUS[0]}" >&2`, process.execPath, cliBundle, genLog], { encoding: "utf8" });
      expect(r.stderr.replace(/^.*record.*skipped\n/m, "").replace(/^\d+ faults? reproduced.*\n/m, "")).toBe("status=0\n");
    });
  }

  it("in-process: an EPIPE stops the command early and it resolves (no unhandled error)", async () => {
    let taken = 0;
    const out = new Writable({
      write(chunk: Buffer, _e, cb) {
        taken += chunk.length;
        if (taken > 64 * 1024) cb(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
        else cb();
      },
    });
    const io = new StreamIo(out, new Writable({ write: (_c, _e, cb) => cb() }));
    await runCli(["explain", genLog], io);
    await io.end();
    expect(io.closed).toBe(true);
  });
});

describe("lines longer than any record, streamed", () => {
  it("a huge line without a newline is dropped as it streams in (bounded memory), reported with its length, and the next line still decodes", () => {
    const records: { line: number; kind: string }[] = [];
    const skipped: { line: number; reason: string }[] = [];
    const p = new StreamParser((r, s) => {
      records.push(...r.map((x) => ({ line: x.line, kind: x.kind })));
      skipped.push(...s.map((x) => ({ line: x.line, reason: x.reason })));
    }, "log");
    const chunk = "x".repeat(1 << 20);
    let maxBuffered = 0;
    p.push("first line\n");
    for (let i = 0; i < 48; i++) {
      p.push(chunk);
      maxBuffered = Math.max(maxBuffered, p.buffered);
    }
    // Before: the whole 48 MiB line was held (a 512 MiB one broke the string length limit).
    expect(maxBuffered).toBeLessThanOrEqual(MAX_LINE + chunk.length + 64);
    const fault = realWorld.split("\n").find((l) => /DMAR: \[DMA (Read|Write)/.test(l))!;
    p.push(`\n${fault}\n`);
    p.end();
    expect(skipped).toContainEqual({ line: 1, reason: `line of ${48 * chunk.length} characters: too long to be a record` });
    expect(records.some((r) => r.line === 2 && r.kind === "dmar-fault")).toBe(true);
  });

  it("the same when the huge line is the last one, and any split of its chunks gives the same result", () => {
    const run = (parts: string[]) => {
      const out: string[] = [];
      const p = new StreamParser((r, s) => out.push(...r.map((x) => `${x.line} ${x.kind}`), ...s.map((x) => `${x.line} ${x.reason}`)), "log");
      for (const part of parts) p.push(part);
      p.end();
      return out;
    };
    const long = "y".repeat(MAX_LINE * 3 + 7);
    const text = `${realWorld}${long}`;
    const whole = run([text]);
    expect(whole).toContain(`${realWorld.split("\n").length - 1} line of ${long.length} characters: too long to be a record`);
    for (const size of [1, 1000, 65536, 100_000]) {
      const parts: string[] = [];
      for (let i = 0; i < text.length; i += size) parts.push(text.slice(i, i + size));
      expect(run(parts), String(size)).toEqual(whole);
    }
  });
});

describe("explain streams (two passes, memory bounded by the devices, not the records)", () => {
  it("explain --json gives exactly the extension's whole-text explanations, for every fixture, a generated log and with --trace", async () => {
    const { decodeEvidenceText } = await import("../../src/import/decode.js");
    const { explainRecords } = await import("../../src/import/index.js");
    const { readdirSync } = await import("node:fs");
    const trace = join(fixtures, "iommu-trace.txt");
    const cases: [string, string | undefined][] = [...readdirSync(fixtures).map((f): [string, string | undefined] => [join(fixtures, f), undefined]), [genLog, undefined], [join(fixtures, "mixed-dmesg.txt"), trace], [join(fixtures, "real-world.txt"), trace]];
    for (const [file, t] of cases) {
      const r = await cli("explain", "--json", ...(t ? ["--trace", t] : []), file);
      expect(r.code, file).toBe(0);
      const got = JSON.parse(r.out) as { file: string; explanations: { record: number; line: number; title: string }[] };
      const d = decodeEvidenceText(readFileSync(file, "utf8"));
      const history = t ? decodeEvidenceText(readFileSync(t, "utf8"), { kind: "ftrace" }).records : d.kind === "ftrace" ? d.records : [];
      const want = explainRecords(d.records, history).map((e) => ({ ...e, line: d.records[e.record]!.line + 1 }));
      expect(got.explanations, file).toEqual(want);
    }
  });

  it("a device's other faults are counted, not kept: the evidence of 20 000 faults of one device lists five lines and the full count", async () => {
    const { ExplainContext, explainRecord } = await import("../../src/import/explain.js");
    const { decodeEvidenceText } = await import("../../src/import/decode.js");
    const fault = realWorld.split("\n").find((l) => /DMAR: \[DMA (Read|Write)/.test(l))!;
    const rec = decodeEvidenceText(fault).records.find((r) => r.kind === "dmar-fault")!;
    const ctx = new ExplainContext();
    for (let i = 0; i < 20_000; i++) ctx.add({ ...rec, line: i });
    const e = explainRecord({ ...rec, line: 7 }, 7, [], ctx)!;
    const ev = e.evidence.find((x) => x.includes("other fault record"))!;
    expect(ev).toContain("19999 other fault records");
    expect(ev).toMatch(/lines 1, 2, 3, 4, 5, …\)/);
    expect(ctx.records).toBe(20_000);
  });
});
