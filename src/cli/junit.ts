/**
 * `passthrough simulate --junit FILE` / `--format junit`: the scenarios' results as JUnit XML, the
 * format CI systems (GitHub Actions reporters, GitLab, Jenkins, Azure Pipelines) show natively.
 * One <testsuite> per scenario file, one <testcase> per `expect`: a <failure> with the
 * expectation's message when it failed, <skipped> when the run stopped before the step. A
 * scenario that does not load is one <testcase> with an <error> listing its diagnostics; a run
 * that stopped early also gets a failing "the run reaches its end" case (the exit code is 1).
 * Every text is escaped; characters XML 1.0 cannot hold (control characters, lone surrogates)
 * become visible `\xNN` escapes, so the file always parses.
 */
import type { SimulateReport } from "./simulate.js";

/** A scenario's report, or a scenario file that could not be read (with the reason). */
export type JunitEntry = SimulateReport | { file: string; readError: string };

export function toJunit(entries: readonly JunitEntry[]): string {
  const suites: string[] = [];
  const total = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  for (const r of entries) {
    const cases: string[] = [];
    const n = { tests: 0, failures: 0, errors: 0, skipped: 0 };
    if ("readError" in r) {
      total.tests++;
      total.errors++;
      suites.push(`  <testsuite name="${attr(r.file)}" file="${attr(r.file)}" tests="1" failures="0" errors="1" skipped="0">\n    <testcase name="scenario loads" classname="${attr(r.file)}" file="${attr(r.file)}">\n      <error message="${attr(`cannot read: ${r.readError}`)}" type="unreadable">${text(`${r.file}: cannot read: ${r.readError}`)}</error>\n    </testcase>\n  </testsuite>`);
      continue;
    }
    const classname = r.name ?? r.file;
    if (r.exitCode === 2) {
      const errors = r.diagnostics.filter((d) => d.severity === "error");
      const body = r.diagnostics.map((d) => `${d.file}:${d.line}:${d.column}: ${d.severity} ${d.code}: ${d.message}${d.hint ? `\n    hint: ${d.hint}` : ""}`).join("\n");
      const first = errors[0] ?? r.diagnostics[0];
      cases.push(`    <testcase name="scenario loads" classname="${attr(classname)}" file="${attr(r.file)}"${first ? ` line="${first.line}"` : ""}>\n      <error message="${attr(first ? `${first.code}: ${first.message}` : "the scenario does not load")}" type="invalid-scenario">${text(body)}</error>\n    </testcase>`);
      n.tests++;
      n.errors++;
    } else {
      for (const s of r.steps) {
        if (!s.expect && s.status !== "not-reached") continue;
        n.tests++;
        const open = `    <testcase name="${attr(`step ${s.index + 1} (line ${s.line}): ${s.op}`)}" classname="${attr(classname)}" file="${attr(r.file)}" line="${s.line}">`;
        if (s.status === "not-reached") {
          n.skipped++;
          cases.push(`${open}\n      <skipped message="${attr(s.summary)}"/>\n    </testcase>`);
        } else if (s.expect && !s.expect.pass) {
          n.failures++;
          const detail = [`${r.file}:${s.line}: ${s.summary}`, ...s.expect.failures, ...s.dmesg].join("\n");
          cases.push(`${open}\n      <failure message="${attr(s.expect.failures.join("; "))}" type="expectation">${text(detail)}</failure>\n    </testcase>`);
        } else {
          cases.push(`${open}\n      <system-out>${text(s.summary)}</system-out>\n    </testcase>`);
        }
      }
      if (r.stoppedEarly !== undefined) {
        n.tests++;
        n.failures++;
        cases.push(`    <testcase name="the run reaches its end" classname="${attr(classname)}" file="${attr(r.file)}">\n      <failure message="${attr(`stopped early: ${r.stoppedEarly}`)}" type="stopped-early">${text(r.stoppedEarly)}</failure>\n    </testcase>`);
      }
    }
    total.tests += n.tests;
    total.failures += n.failures;
    total.errors += n.errors;
    total.skipped += n.skipped;
    suites.push(`  <testsuite name="${attr(r.name ?? r.file)}" file="${attr(r.file)}" tests="${n.tests}" failures="${n.failures}" errors="${n.errors}" skipped="${n.skipped}">\n${cases.join("\n")}${cases.length ? "\n" : ""}  </testsuite>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="passthrough simulate" tests="${total.tests}" failures="${total.failures}" errors="${total.errors}" skipped="${total.skipped}">\n${suites.join("\n")}${suites.length ? "\n" : ""}</testsuites>\n`;
}

/** Characters XML 1.0 does not allow (kept out as `\xNN` / `\uNNNN`), and C1 controls and bidi overrides (legal, but a viewer would act on them). */
 
const NOT_XML = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function visible(s: string): string {
  return s.replace(NOT_XML, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
  });
}

/** Element text. */
function text(s: string): string {
  return visible(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** An attribute value in double quotes (newlines and tabs kept as character references, not normalised away). */
function attr(s: string): string {
  return text(s).replace(/"/g, "&quot;").replace(/\n/g, "&#10;").replace(/\r/g, "&#13;").replace(/\t/g, "&#9;");
}
