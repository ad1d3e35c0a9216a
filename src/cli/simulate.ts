/**
 * `passthrough simulate`: scenario text -> diagnostics or a run -> a report (text or JSON).
 * Pure: the caller reads the file and writes the output.
 */
import { parseScenario } from "../scenario/index.js";
import type { Diagnostic, DiagnosticCode } from "../scenario/types.js";
import { formatTimestamp } from "../sim/printk.js";
import { runScenario } from "../sim/run.js";
import { FORWARD_ONLY_POLICY } from "../trace/checkpoints.js";
import { faultLabel } from "../sim/machine.js";
import { EventKind, F_FATE_SHIFT, F_IOTLB_HIT, F_WRITE, Trace } from "../trace/trace.js";
import { ERRNO_VALUE, STRERROR } from "../sim/vfio.js";
import { FaultFate } from "../sim/vtd/unit.js";
import { formatSid } from "../sim/bdf.js";
import type { Run } from "../sim/run.js";

export interface ReportDiagnostic {
  file: string;
  /** 1-based. */
  line: number;
  column: number;
  severity: Diagnostic["severity"];
  code: DiagnosticCode;
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
  /** The errno's value and strerror text (Linux's), with `errno`. */
  errnoValue?: number;
  errnoText?: string;
  error?: string;
  transactions: number;
  expect?: { pass: boolean; failures: string[] };
  /** `translate` probes: the HPA (when it translates) and whether the IOTLB answered. */
  hpa?: string;
  iotlb?: "hit" | "miss" | "device-tlb";
  /** `dma` steps: every transaction as the IOMMU answered it (from the trace). */
  dma?: ReportDma;
  /** The host kernel lines this step printed (Linux's rendering of the fault records it handled). */
  dmesg: string[];
  /** The VMM's stderr lines of this step, when it printed any. */
  vmm?: { vm: string; text: string }[];
  /** The guest kernels' lines of this step (a guest vIOMMU driver's), when any printed. */
  guest?: { vm: string; text: string }[];
}

/** Ranges and faults listed per step at most (the counts are always complete). */
export const REPORT_LIST_LIMIT = 1000;

export interface ReportDma {
  transactions: number;
  /** IOTLB lookups that hit / missed (a miss walks the tables), over all translated requests. */
  iotlb: { hits: number; misses: number };
  /** Transactions that faulted. */
  faulting: number;
  /** Of the faulting transactions: how many reached a fault recording register, and what became of the others. */
  fates: { recorded: number; "suppressed-fpd": number; overflow: number; compressed: number; "page-request"?: number; "page-request-overflow"?: number };
  /**
   * The translated ranges: consecutive transactions whose IOVA and HPA both continue are one
   * range; the same range again (a step with `repeat`) adds to its `count`.
   */
  translated: { iova: string; hpa: string; size: number; write: boolean; count: number }[];
  /** Translated ranges beyond REPORT_LIST_LIMIT, not listed. */
  translatedNotListed?: number;
  /**
   * The faulting transactions: the request as the unit saw it (the FRCD fields: source-id, fault
   * address, T, FR) and its fate; the same request again adds to `count`.
   */
  faults: { iova: string; sid: string; write: boolean; reason: number; reasonText: string; fate: FateName; recorded: boolean; count: number }[];
  faultsNotListed?: number;
}

/** page-request: a VT-d PRI device's failed Translation Request queued as a page request (no fault record); page-request-overflow: lost to a full page request queue (PRS.PRO), auto-answered when last in its group. Listed only when they occur. */
export type FateName = "recorded" | "suppressed-fpd" | "overflow" | "compressed" | "page-request" | "page-request-overflow";
/** The unit's FaultFate values (sim/vtd/unit.ts, from QEMU's vtd_report_frcd_fault) by JSON name. */
const FATE_NAMES: Record<number, FateName> = {
  [FaultFate.Recorded]: "recorded",
  [FaultFate.SuppressedFpd]: "suppressed-fpd",
  [FaultFate.Overflow]: "overflow",
  [FaultFate.Compressed]: "compressed",
  [FaultFate.PageRequest]: "page-request",
  [FaultFate.PageRequestOverflow]: "page-request-overflow",
};

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
  /** The guest kernels' lines (each VM's dmesg), when any printed. */
  guest?: { vm: string; text: string }[];
  /** notReached: `expect`s of steps after an early stop, never evaluated (each also in `steps`, status "not-reached"). */
  expectations: { passed: number; failed: number; notReached: number };
  stoppedEarly?: string;
}

/**
 * `detail`: the per-transaction parts of `--json` (ReportStep.dma: ranges, IOTLB counts, fault
 * fates), one pass over each dma step's trace events; the text report does not show them.
 */
export function simulateText(text: string, file: string, opts: { detail?: boolean } = {}): SimulateReport {
  const parsed = parseScenario(text, file);
  const diagnostics = parsed.diagnostics.map((d) => toReportDiagnostic(d, file));
  const report: SimulateReport = { file, exitCode: 0, diagnostics, steps: [], dmesg: [], vmm: [], expectations: { passed: 0, failed: 0, notReached: 0 } };
  const scenario = parsed.scenario;
  if (scenario === undefined || parsed.diagnostics.some((d) => d.severity === "error")) {
    report.exitCode = 2;
    return report;
  }
  if (scenario.name !== undefined) report.name = scenario.name;
  // A report reads the run once, forwards: no checkpoints to step back to.
  const result = runScenario(scenario, { checkpoints: FORWARD_ONLY_POLICY });
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
  const iommu = scenario.host.iommu;
  // The model as the scenario names it, and its address width (an SMMU's output address size).
  report.host = { iommu: `${iommu.model} ${iommu.smmu?.oas ?? iommu.addressWidth}-bit`, devices: m.pci.devices.length, groups: m.pci.groups.length, vms: scenario.vms.length };
  for (const o of run.outcomes) {
    const step = scenario.workload[o.step]!;
    const s: ReportStep = { index: o.step, line: step.range.line + 1, op: step.op, status: o.status, summary: o.summary, transactions: o.transactions, dmesg: [] };
    if (o.fault !== undefined) {
      s.fault = o.fault;
      s.faultText = faultLabel(o.fault);
    }
    if (o.errno) {
      s.errno = o.errno;
      s.errnoValue = ERRNO_VALUE[o.errno];
      s.errnoText = STRERROR[o.errno];
    }
    if (step.op === "translate") {
      if (o.firstHpa !== undefined) s.hpa = hex(o.firstHpa);
      if (o.firstIotlb !== undefined) s.iotlb = o.firstIotlb;
    }
    if (step.op === "dma" && opts.detail) s.dma = dmaReport(run, o.eventStart, o.eventEnd, step.iova + step.length);
    for (let i = o.logStart; i < o.logEnd; i++) {
      const l = run.log[i]!;
      if (l.source === "kernel") s.dmesg.push(`${formatTimestamp(l.ns)}${l.text}`);
      else if (l.source === "guest") (s.guest ??= []).push({ vm: l.vm ?? "", text: l.text });
      else (s.vmm ??= []).push({ vm: l.vm ?? "", text: l.text });
    }
    if (o.error) s.error = o.error;
    if (o.expect) {
      s.expect = o.expect;
      if (o.expect.pass) report.expectations.passed++;
      else report.expectations.failed++;
    }
    report.steps.push(s);
  }
  const t = run.trace;
  const { dma, faults } = t.dmaCounts();
  report.trace = { events: t.length, dma, faults, bytes: t.length * Trace.BYTES_PER_EVENT, bytesPerEvent: Trace.BYTES_PER_EVENT };
  for (const l of run.log) {
    if (l.source === "kernel") report.dmesg.push(`${formatTimestamp(l.ns)}${l.text}`);
    else if (l.source === "guest") (report.guest ??= []).push({ vm: l.vm ?? "", text: l.text });
    else report.vmm.push({ vm: l.vm ?? "", text: l.text });
  }
  // A run that stopped early did not check what came after: each later expect is "not reached".
  for (const step of run.notReached) {
    if (!step.expect) continue;
    report.steps.push({ index: step.index, line: step.range.line + 1, op: step.op, status: "not-reached", summary: `not reached: the run stopped at step ${run.outcomes.length}`, transactions: 0, dmesg: [] });
    report.expectations.notReached++;
  }
  if (run.stoppedEarly !== undefined) report.stoppedEarly = run.stoppedEarly;
  report.exitCode = report.expectations.failed > 0 || run.stoppedEarly !== undefined ? 1 : 0;
  return report;
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/**
 * A dma step's transactions [start, end) from the trace: one event per transaction (the request's
 * IOVA; the HPA when it translated; IOTLB hit, write and fault fate in flags). `end` is where the
 * step's bytes end (iova + length): a transaction covers its page up to there.
 */
function dmaReport(run: Run, start: number, end: number, stepEnd: bigint): ReportDma {
  const t = run.trace;
  const r: ReportDma = { transactions: 0, iotlb: { hits: 0, misses: 0 }, faulting: 0, fates: { recorded: 0, "suppressed-fpd": 0, overflow: 0, compressed: 0 }, translated: [], faults: [] };
  const ranges = new Map<string, ReportDma["translated"][number]>();
  const faults = new Map<string, ReportDma["faults"][number]>();
  let translatedNotListed = 0;
  let faultsNotListed = 0;
  // The range being built: consecutive translated transactions with IOVA and HPA both contiguous.
  let cur: { iova: bigint; hpa: bigint; size: bigint; write: boolean } | undefined;
  const close = () => {
    if (!cur) return;
    const key = `${cur.iova} ${cur.hpa} ${cur.size} ${cur.write}`;
    const had = ranges.get(key);
    if (had) had.count++;
    else if (ranges.size < REPORT_LIST_LIMIT) ranges.set(key, { iova: hex(cur.iova), hpa: hex(cur.hpa), size: Number(cur.size), write: cur.write, count: 1 });
    else translatedNotListed++;
    cur = undefined;
  };
  for (let i = start; i < end; i++) {
    if (t.kind[i] !== EventKind.Dma) {
      close();
      continue;
    }
    r.transactions++;
    const flags = t.flags[i]!;
    if (flags & F_IOTLB_HIT) r.iotlb.hits++;
    else r.iotlb.misses++;
    const write = (flags & F_WRITE) !== 0;
    const iova = (BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!);
    const reason = t.reason[i]!;
    if (reason !== 0) {
      close();
      r.faulting++;
      const fate = FATE_NAMES[(flags >> F_FATE_SHIFT) & 7] ?? "recorded";
      r.fates[fate] = (r.fates[fate] ?? 0) + 1;
      const sid = t.sid[i]!;
      // The fault address as the unit records it (FRCD.FI: the page of the request).
      const fi = iova & ~0xfffn;
      const key = `${fi} ${sid} ${write} ${reason} ${fate}`;
      const had = faults.get(key);
      if (had) had.count++;
      else if (faults.size < REPORT_LIST_LIMIT) faults.set(key, { iova: hex(fi), sid: formatSid(sid), write, reason, reasonText: faultLabel(reason), fate, recorded: fate === "recorded", count: 1 });
      else faultsNotListed++;
      continue;
    }
    const hpa = (BigInt(t.bHi[i]!) << 32n) | BigInt(t.bLo[i]!);
    const pageEnd = (iova | 0xfffn) + 1n;
    const size = (stepEnd < pageEnd && stepEnd > iova ? stepEnd : pageEnd) - iova;
    if (cur && cur.write === write && cur.iova + cur.size === iova && cur.hpa + cur.size === hpa) cur.size += size;
    else {
      close();
      cur = { iova, hpa, size, write };
    }
  }
  close();
  r.translated = [...ranges.values()];
  r.faults = [...faults.values()];
  if (translatedNotListed) r.translatedNotListed = translatedNotListed;
  if (faultsNotListed) r.faultsNotListed = faultsNotListed;
  return r;
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
    if (r.guest !== undefined) {
      out.push("guest dmesg:");
      for (const l of r.guest) out.push(`  [${l.vm}] ${l.text}`);
    }
  }
  if (r.stoppedEarly) out.push(`stopped early: ${r.stoppedEarly}`);
  out.push(`expectations: ${r.expectations.passed} passed, ${r.expectations.failed} failed${r.expectations.notReached > 0 ? `, ${r.expectations.notReached} not reached` : ""}`);
  return out.join("\n") + "\n";
}
