/**
 * `passthrough simulate`: scenario text -> diagnostics or a run -> a report (text or JSON).
 * Pure: the caller reads the file and writes the output.
 */
import { parseScenario } from "../scenario/index.js";
import type { Diagnostic } from "../scenario/types.js";
import { formatTimestamp } from "../sim/printk.js";
import { runScenario } from "../sim/run.js";
import { faultLabel } from "../sim/machine.js";
import { EventKind, Trace } from "../trace/trace.js";

export interface ReportDiagnostic {
  file: string;
  /** 1-based. */
  line: number;
  column: number;
  severity: Diagnostic["severity"];
  code: string;
  message: string;
  hint?: string;
}

export interface ReportStep {
  index: number;
  line: number;
  op: string;
  status: string;
  summary: string;
  fault?: number;
  faultText?: string;
  errno?: string;
  error?: string;
  transactions: number;
  expect?: { pass: boolean; failures: string[] };
}

export interface SimulateReport {
  file: string;
  name?: string;
  exitCode: 0 | 1 | 2;
  diagnostics: ReportDiagnostic[];
  steps: ReportStep[];
  trace?: { events: number; dma: number; faults: number; bytes: number; bytesPerEvent: number };
  host?: { iommu: string; devices: number; groups: number; vms: number };
  dmesg: string[];
  vmm: { vm: string; text: string }[];
  /** notReached: `expect`s of steps after an early stop, never evaluated (each also in `steps`, status "not-reached"). */
  expectations: { passed: number; failed: number; notReached: number };
  stoppedEarly?: string;
}

export function simulateText(text: string, file: string): SimulateReport {
  const parsed = parseScenario(text, file);
  const diagnostics = parsed.diagnostics.map((d) => toReportDiagnostic(d, file));
  const report: SimulateReport = { file, exitCode: 0, diagnostics, steps: [], dmesg: [], vmm: [], expectations: { passed: 0, failed: 0, notReached: 0 } };
  const scenario = parsed.scenario;
  if (scenario === undefined || parsed.diagnostics.some((d) => d.severity === "error")) {
    report.exitCode = 2;
    return report;
  }
  if (scenario.name !== undefined) report.name = scenario.name;
  const result = runScenario(scenario);
  if (result.run === undefined) {
    report.diagnostics.push({ file, line: scenario.host.range.line + 1, column: scenario.host.range.column + 1, severity: "error", code: "simulation-limit", message: result.error });
    report.exitCode = 2;
    return report;
  }
  const run = result.run;
  const m = run.machine;
  for (const d of m.diagnostics) report.diagnostics.push(toReportDiagnostic(d, file));
  if (m.diagnostics.some((d) => d.severity === "error")) {
    report.exitCode = 2;
    return report;
  }
  report.host = { iommu: `intel-vtd ${scenario.host.iommu.addressWidth}-bit`, devices: m.pci.devices.length, groups: m.pci.groups.length, vms: scenario.vms.length };
  for (const o of run.outcomes) {
    const step = scenario.workload[o.step]!;
    const s: ReportStep = { index: o.step, line: step.range.line + 1, op: step.op, status: o.status, summary: o.summary, transactions: o.transactions };
    if (o.fault !== undefined) {
      s.fault = o.fault;
      s.faultText = faultLabel(o.fault);
    }
    if (o.errno) s.errno = o.errno;
    if (o.error) s.error = o.error;
    if (o.expect) {
      s.expect = o.expect;
      if (o.expect.pass) report.expectations.passed++;
      else report.expectations.failed++;
    }
    report.steps.push(s);
  }
  const t = run.trace;
  report.trace = { events: t.length, dma: count(t, EventKind.Dma), faults: t.countFaults(), bytes: t.length * Trace.BYTES_PER_EVENT, bytesPerEvent: Trace.BYTES_PER_EVENT };
  for (const l of run.log) {
    if (l.source === "kernel") report.dmesg.push(`${formatTimestamp(l.ns)}${l.text}`);
    else report.vmm.push({ vm: l.vm ?? "", text: l.text });
  }
  // A run that stopped early did not check what came after: each later expect is "not reached".
  for (const step of run.notReached) {
    if (!step.expect) continue;
    report.steps.push({ index: step.index, line: step.range.line + 1, op: step.op, status: "not-reached", summary: `not reached: the run stopped at step ${run.outcomes.length}`, transactions: 0 });
    report.expectations.notReached++;
  }
  if (run.stoppedEarly !== undefined) report.stoppedEarly = run.stoppedEarly;
  report.exitCode = report.expectations.failed > 0 || run.stoppedEarly !== undefined ? 1 : 0;
  return report;
}

function count(t: Trace, kind: EventKind): number {
  let n = 0;
  for (let i = 0; i < t.length; i++) if (t.kind[i] === kind) n++;
  return n;
}

function toReportDiagnostic(d: Diagnostic, file: string): ReportDiagnostic {
  const r: ReportDiagnostic = { file, line: d.range.line + 1, column: d.range.column + 1, severity: d.severity, code: d.code, message: d.message };
  if (d.hint !== undefined) r.hint = d.hint;
  return r;
}

/** `file:line:col: severity code: message` lines, then the run. */
export function formatReport(r: SimulateReport, opts: { quiet?: boolean } = {}): string {
  const out: string[] = [];
  for (const d of r.diagnostics) {
    out.push(`${d.file}:${d.line}:${d.column}: ${d.severity} ${d.code}: ${d.message}`);
    if (d.hint) out.push(`    hint: ${d.hint}`);
  }
  if (r.exitCode === 2) return out.join("\n") + "\n";
  out.push(`${r.file}${r.name ? `: ${r.name}` : ""}`);
  if (r.host) out.push(`host: ${r.host.iommu}, ${r.host.devices} PCI devices in ${r.host.groups} IOMMU groups, ${r.host.vms} VM${r.host.vms === 1 ? "" : "s"}`);
  if (!opts.quiet) {
    for (const s of r.steps) {
      const mark = s.status === "not-reached" ? "  [EXPECTATION NOT REACHED]" : s.expect ? (s.expect.pass ? "  [as expected]" : "  [EXPECTATION FAILED]") : "";
      out.push(`  step ${String(s.index + 1).padStart(3)}  line ${String(s.line).padStart(4)}  ${s.op.padEnd(11)} ${s.summary}${mark}`);
      if (s.expect && !s.expect.pass) for (const f of s.expect.failures) out.push(`        ${r.file}:${s.line}: ${f}`);
    }
    if (r.trace) out.push(`trace: ${r.trace.events} events (${r.trace.dma} DMA, ${r.trace.faults} faulted), ${r.trace.bytesPerEvent} bytes/event`);
    const dmar = r.dmesg.filter((l) => !/Adding to iommu group/.test(l));
    if (dmar.length > 0) {
      out.push("dmesg:");
      for (const l of dmar) out.push(`  ${l}`);
    }
    if (r.vmm.length > 0) {
      out.push("VMM stderr:");
      for (const l of r.vmm) out.push(`  [${l.vm}] ${l.text}`);
    }
  }
  if (r.stoppedEarly) out.push(`stopped early: ${r.stoppedEarly}`);
  out.push(`expectations: ${r.expectations.passed} passed, ${r.expectations.failed} failed${r.expectations.notReached > 0 ? `, ${r.expectations.notReached} not reached` : ""}`);
  return out.join("\n") + "\n";
}
