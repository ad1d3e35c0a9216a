/**
 * What a run says about the text: step outcomes the user did not expect become diagnostics on
 * their step (a fault, an errno, a refused start, a failed `expect`), and the common problems
 * carry quick fixes as plain text edits on the scenario:
 * - a DMA that faults on a missing translation: insert the missing map before the step;
 * - a group that is not viable: bind the group's other functions to vfio-pci;
 * - a vIOMMU without caching mode: enable it;
 * - an unaligned map: round IOVA down and size up to whole 4 KiB pages.
 * The host turns the edits into a WorkspaceEdit, so each fix is one undoable edit.
 */
import type { EngineDiagnostic, TextEditFix } from "../protocol/engine.js";
import type { Diagnostic, Scenario, SourceRange, Step } from "../scenario/types.js";
import type { Run } from "../sim/run.js";
import { formatSize, type StepOutcome, type VmRuntime } from "../sim/machine.js";
import { explainWalk } from "./walk.js";
import { acsOverrideWhatIf, WHAT_IF_ACS_OVERRIDE } from "../sim/hostTopology.js";
import * as l10n from "@vscode/l10n";

const PAGE = 4096n;

/** What runDiagnostics reports for a step outcome, if anything: THE rule, which the hover asks too. */
type OutcomeDiagnosis = "expectation-failed" | "dma-fault" | "vfio-errno" | "step-error" | undefined;

function diagnose(o: StepOutcome): OutcomeDiagnosis {
  if (o.expect) return o.expect.pass ? undefined : "expectation-failed"; // an expected outcome, even a fault, is the point of the step
  return o.status === "fault" ? "dma-fault" : o.status === "errno" ? "vfio-errno" : o.status === "error" ? "step-error" : undefined;
}

/**
 * Whether runDiagnostics reports this outcome's fault or failed expectation (a fault the step
 * expects is the point of the step, not a problem): the hover then leaves that text out.
 */
export function diagnosesFault(o: StepOutcome): boolean {
  const d = diagnose(o);
  return d === "expectation-failed" || d === "dma-fault";
}

export function runDiagnostics(scenario: Scenario, run: Run, text: string): EngineDiagnostic[] {
  const out: EngineDiagnostic[] = [];
  for (const o of run.outcomes) {
    const step = scenario.workload[o.step]!;
    const range = headRange(step.range, text);
    const diagnosis = diagnose(o);
    if (diagnosis === "expectation-failed") {
      out.push({ severity: "error", code: "expectation-failed", message: l10n.t("Expectation failed: {0}. The step did: {1}", o.expect!.failures.join("; "), o.summary), hint: l10n.t("Fix the scenario, or update `expect:` if this outcome is the intended one."), range: step.expect?.range ?? range });
    } else if (diagnosis === "dma-fault") {
      // An emulated device's fault is virtio-iommu's (VIRTIO_IOMMU_FAULT_R_*), not the host IOMMU's reason code.
      const hint = step.op === "emulated-dma" ? l10n.t("QEMU's virtio-iommu reported it on the event queue; the guest's driver printed it (the step's log in the Faults view).") : run.machine.iommu.reason(o.fault ?? 0).explanation;
      const d: EngineDiagnostic = { severity: "warning", code: "dma-fault", message: l10n.t("DMA fault: {0}", o.summary), hint, range };
      const fix = step.op === "dma" ? missingMapFix(scenario, run, step, text) : undefined;
      if (fix) d.fixes = [fix];
      out.push(d);
    } else if (diagnosis === "vfio-errno") {
      out.push({ severity: "warning", code: "vfio-errno", message: `${o.errno}: ${o.summary}`, hint: l10n.t("The VMM's VFIO ioctl failed; see the VMM log lines in the Faults view."), range });
    } else if (diagnosis === "step-error") {
      const d: EngineDiagnostic = { severity: "error", code: o.error ?? "step-error", message: o.summary, range };
      if (o.error === "caching-mode-required") {
        const vmName = "vm" in step ? step.vm : undefined;
        const fix = vmName ? cachingModeFix(scenario, vmName, text) : undefined;
        if (fix) d.fixes = [fix];
      }
      if (o.error === "group-not-viable") {
        const fix = bindGroupFix(scenario, run, text, step);
        const whatIf = "vm" in step ? acsOverrideFix(scenario, text, scenario.vms.find((v) => v.name === step.vm)?.devices ?? []) : undefined;
        const fixes = [fix, whatIf].filter((f): f is TextEditFix => f !== undefined);
        if (fixes.length > 0) d.fixes = fixes;
      }
      out.push(d);
    }
  }
  // A run that stopped early never checked the expectations after the step it stopped at.
  for (const step of run.notReached) {
    if (!step.expect) continue;
    out.push({ severity: "warning", code: "expect-not-reached", message: l10n.t("Not reached: the run stopped early at {0}; this expectation was not checked.", String(run.stoppedEarly)), hint: l10n.t("Fix the step the run stopped at; the steps after it did not run."), range: step.expect.range });
  }
  return out;
}

/** Quick fixes for the validator's own diagnostics (group-not-viable, map-unaligned). */
export function validatorFixes(diags: Diagnostic[], scenario: Scenario | undefined, run: Run | undefined, text: string): EngineDiagnostic[] {
  return diags.map((d) => {
    if (!scenario) return d;
    let fix: TextEditFix | undefined;
    if (d.code === "map-unaligned") {
      const step = scenario.workload.find((s) => s.range.start === d.range.start);
      if (step && (step.op === "map" || step.op === "guest-map")) fix = alignFix(step, text);
    } else if (d.code === "group-not-viable" && run) {
      const vm = scenario.vms.find((v) => v.range.start === d.range.start);
      fix = vm ? bindGroupFixForVm(scenario, run, text, vm.devices) : undefined;
      const whatIf = vm ? acsOverrideFix(scenario, text, vm.devices) : undefined;
      if (whatIf) return { ...d, fixes: fix ? [fix, whatIf] : [whatIf] };
    }
    return fix ? { ...d, fixes: [fix] } : d;
  });
}

/** The first line of a step: its squiggle should not cover the `expect:` line below. */
function headRange(r: SourceRange, text: string): SourceRange {
  const nl = text.indexOf("\n", r.start);
  const end = nl >= 0 && nl < r.end ? nl : r.end;
  return { ...r, end };
}

function missingMapFix(scenario: Scenario, run: Run, step: Extract<Step, { op: "dma" }>, text: string): TextEditFix | undefined {
  const m = run.machineBefore(step.index);
  const dev = m.pci.device(step.device);
  if (!dev) return undefined;
  // A request with PASID translates through that PASID's own tables (bind-pasid), which a VFIO map
  // of the VM's container does not fill: no map fixes it.
  if (step.pasid !== undefined && step.pasid >= 0) return undefined;
  const w = explainWalk(m, m.pci.requesterId(dev), step.iova, step.write);
  // Only a missing entry is fixed by a map (the model's classification of where the walk stopped).
  if (w.reason === 0 || w.cause !== "not-present") return undefined;
  // ... and only where the walk stopped at a page-table entry of the request's own walk: an invalid
  // SMMUv3 CD or STE (C_BAD_CD, C_BAD_STE) is "not present" too, and so is a stage-2 entry a nested
  // stream's CD or stage-1 table fetch missed; a map of the DMA's IOVA fixes none of them.
  const stopAt = w.translation.trail.stop;
  const last = stopAt !== undefined && stopAt.entry >= 0 ? w.translation.trail.entries[stopAt.entry] : undefined;
  if (last !== undefined && (last.kind !== "pte" || last.nestedFor !== undefined)) return undefined;
  // A nested stream's stage-1 table is the guest's own (its CD and tables in guest RAM): its missing
  // entry is the guest's to write, and a VFIO map (the parent's stage 2) does not fill it.
  if (w.translation.trail.entries.some((e) => e.nestedFor !== undefined)) return undefined;
  const vm = scenario.vms.find((v) => v.devices.includes(dev.key)) ?? scenario.vms.find((v) => m.vms.get(v.name)?.devices.includes(dev.key));
  if (!vm) return undefined;
  const start = step.iova & ~(PAGE - 1n);
  const end = (step.iova + (step.length > 0n ? step.length : 1n) + PAGE - 1n) & ~(PAGE - 1n);
  const size = end - start;
  const runtime = m.vms.get(vm.name);
  if (!runtime) return undefined;
  // A virtio-iommu in bypass has all guest RAM mapped already, and QEMU answers a MAP with
  // VIRTIO_IOMMU_S_INVAL (sim/viommu.ts VirtioIommu.bypass): no map fixes the fault.
  if (runtime.viommu?.spec.bypass === true) return undefined;
  // Behind a vIOMMU narrower than the IOVA the guest cannot map it (its intel_iommu_map refuses: EFAULT).
  if (runtime.viommu && end > 1n << BigInt(runtime.viommu.domainWidth)) return undefined;
  // VFIO still holds a mapping of this IOVA (the PTE was cleared behind its back): another map
  // would fail with EEXIST, so there is no map to add.
  if (runtime.container?.dmas.some((d) => start < d.iova + d.size && d.iova < end)) return undefined;
  const target = chooseGpa(runtime, start, size);
  if (!target) return undefined;
  const { gpa } = target;
  const sizeText = size % (1024n * 1024n) === 0n ? `${size / (1024n * 1024n)}MiB` : `${size / 1024n}KiB`;
  // Numbers in the user's style: the DMA's own IOVA text when it is the page start, else hex
  // with `_` separators when the step uses them.
  const body = text.slice(step.range.start, step.range.end);
  const iovaText = /\biova\s*:\s*([0-9a-fA-Fx_]+)/.exec(body)?.[1];
  const iovaOut = iovaText !== undefined && start === step.iova ? iovaText : formatAddressLike(start, iovaText);
  const gpaOut = formatAddressLike(gpa, iovaText);
  const perm = step.write ? "rw" : "r";
  const item = vm.viommu
    ? `guest-map: { vm: ${vm.name}, device: "${dev.key}", iova: ${iovaOut}, size: ${sizeText}, perm: ${perm}, gpa: ${gpaOut} }`
    : `map: { vm: ${vm.name}, iova: ${iovaOut}, size: ${sizeText}, perm: ${perm}${gpa !== start ? `, gpa: ${gpaOut}` : ""} }`;
  const lineStart = text.lastIndexOf("\n", step.range.start - 1) + 1;
  const indent = text.slice(lineStart, step.range.start).replace(/-\s*$/, "");
  return {
    title: l10n.t("Add the missing {0} of {1} ({2}) before this step, to {3}'s guest RAM at gpa {4} ({5})", vm.viommu ? "guest-map" : "map", iovaOut, sizeText, vm.name, gpaOut, target.why),
    preferred: true,
    edits: [{ start: lineStart, end: lineStart, text: `${indent}- ${item}\n` }],
  };
}

const MiB = 1n << 20n;

/**
 * Where the added map points in guest-physical memory: inside one of the VM's RAM memslots (the
 * model's q35 layout, so never the PCI hole), preferably at GPA = IOVA as QEMU maps guest RAM,
 * else at the lowest range above the first MiB (firmware and legacy VGA live below it) that no
 * mapping of the VM's container already uses. When every page of RAM is mapped already (a VM
 * without vIOMMU maps all of it at start), the map has to share pages: it then aliases the first
 * range above 1 MiB, and the title says so.
 */
export function chooseGpa(vm: Pick<VmRuntime, "guest" | "container" | "spec">, iova: bigint, size: bigint): { gpa: bigint; why: string } | undefined {
  const slots = vm.guest.memslots;
  const used = (vm.container?.dmas ?? []).map((d) => [d.vaddr, d.vaddr + d.size] as const);
  const slotOf = (gpa: bigint) => slots.find((s) => gpa >= s.gpa && gpa + size <= s.gpa + s.size);
  const free = (gpa: bigint) => {
    const s = slotOf(gpa);
    if (!s) return false;
    const hva = s.hva + (gpa - s.gpa);
    return used.every(([a, b]) => hva + size <= a || hva >= b);
  };
  const ram = `${formatSize(vm.spec.memory).replace(" ", "")} RAM`;
  if (slotOf(iova) && free(iova)) return { gpa: iova, why: `GPA = IOVA, inside ${vm.spec.name}'s ${ram}` };
  const candidates: bigint[] = [];
  for (const s of slots) candidates.push(s.gpa > MiB ? s.gpa : MiB);
  for (const [, b] of used) {
    const s = slots.find((x) => b >= x.hva && b < x.hva + x.size);
    if (s) candidates.push(s.gpa + (b - s.hva));
  }
  candidates.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const aligned = candidates.map((c) => (c + PAGE - 1n) & ~(PAGE - 1n));
  const unused = aligned.find(free);
  if (unused !== undefined) return { gpa: unused, why: `the first range of ${vm.spec.name}'s ${ram} above 1 MiB that no mapping uses yet` };
  const alias = aligned.find((c) => slotOf(c) !== undefined);
  if (alias !== undefined) return { gpa: alias, why: `all of ${vm.spec.name}'s ${ram} is mapped already, so this shares those pages` };
  return undefined;
}

/** A number in the style of the user's text: decimal stays decimal; hex keeps its digit case and `_` groups of 4. */
export function formatAddressLike(v: bigint, like: string | undefined): string {
  if (like !== undefined && /^[0-9][0-9_]*$/.test(like)) return like.includes("_") ? group(v.toString(10), 3) : v.toString(10);
  let digits = v.toString(16);
  if (like !== undefined && /[A-F]/.test(like) && !/[a-f]/.test(like.slice(2))) digits = digits.toUpperCase();
  return `0x${like !== undefined && like.includes("_") ? group(digits, 4) : digits}`;
}

/** A size in the unit the user wrote (`64KiB`, `2M`, `0x4000`, `8192`), or the largest binary unit that divides it. */
export function formatSizeLike(v: bigint, like: string): string {
  const m = /^(0x[0-9a-f_]+|[0-9][0-9_.]*)\s*([a-z]*)$/i.exec(like.trim());
  if (!m || !m[2]) return formatAddressLike(v, m?.[1] ?? like);
  const units: [string, bigint][] = [["t", 1n << 40n], ["g", 1n << 30n], ["m", MiB], ["k", 1n << 10n]];
  const suffix = m[2];
  const style = (letter: string) => {
    const u = /ib$/i.test(suffix) ? `${letter.toUpperCase()}iB` : letter.toUpperCase();
    return suffix === suffix.toLowerCase() ? u.toLowerCase() : u;
  };
  const same = units.find(([l]) => l === suffix[0]!.toLowerCase());
  if (same && v % same[1] === 0n) return `${v / same[1]}${m[0].slice(m[1]!.length)}`;
  for (const [l, n] of units) if (v % n === 0n) return `${v / n}${style(l)}`;
  return v.toString(10);
}

function group(digits: string, n: number): string {
  const out: string[] = [];
  for (let i = digits.length; i > 0; i -= n) out.unshift(digits.slice(Math.max(0, i - n), i));
  return out.join("_");
}

function cachingModeFix(scenario: Scenario, vmName: string, text: string): TextEditFix | undefined {
  const vm = scenario.vms.find((v) => v.name === vmName);
  const vr = vm?.viommu?.range;
  if (!vr) return undefined;
  const body = text.slice(vr.start, vr.end);
  const m = /caching-mode\s*:\s*([^,}\s]+)/.exec(body);
  if (m) {
    const at = vr.start + m.index + m[0].length - m[1]!.length;
    return { title: l10n.t("Enable caching-mode on {0}'s vIOMMU", vmName), preferred: true, edits: [{ start: at, end: at + m[1]!.length, text: "true" }] };
  }
  const close = body.lastIndexOf("}");
  if (close < 0) return undefined;
  return { title: l10n.t("Enable caching-mode on {0}'s vIOMMU", vmName), preferred: true, edits: [{ start: vr.start + close, end: vr.start + close, text: ", caching-mode: true " }] };
}

function bindGroupFix(scenario: Scenario, run: Run, text: string, step: Step): TextEditFix | undefined {
  const keys = "device" in step && typeof step.device === "string" ? [step.device] : "vm" in step ? scenario.vms.find((v) => v.name === step.vm)?.devices ?? [] : [];
  return bindGroupFixForVm(scenario, run, text, keys);
}

/** Rewrites `driver:` of every blocking device in the devices' groups to vfio-pci. */
function bindGroupFixForVm(scenario: Scenario, run: Run, text: string, keys: string[]): TextEditFix | undefined {
  const pci = run.machine.pci;
  const edits: TextEditFix["edits"] = [];
  const names: string[] = [];
  for (const key of keys) {
    const dev = pci.device(key);
    if (!dev) continue;
    for (const b of pci.viability(pci.groupOf(dev)).blockers) {
      const spec = scenario.host.pci.find((p) => p.key === b.device.key);
      if (!spec || names.includes(spec.key)) continue;
      const body = text.slice(spec.range.start, spec.range.end);
      const m = /driver\s*:\s*("?)([^,}"\s]+)\1/.exec(body);
      if (!m) continue;
      const at = spec.range.start + m.index + m[0].length - m[2]!.length - m[1]!.length;
      edits.push({ start: at, end: at + m[2]!.length, text: "vfio-pci" });
      names.push(spec.key);
    }
  }
  if (edits.length === 0) return undefined;
  return { title: l10n.t("Bind {0} to vfio-pci (make the group viable)", names.join(", ")), preferred: true, edits };
}

/**
 * The ACS override what-if (sim/hostTopology.ts): when pcie_acs_override=downstream,multifunction
 * would give the VM's devices viable groups, a (not preferred) fix that adds it to `host:` - the
 * run then shows the split groups and the unsafe-isolation warnings.
 */
function acsOverrideFix(scenario: Scenario, text: string, keys: string[]): TextEditFix | undefined {
  const w = acsOverrideWhatIf(scenario, keys);
  if (w === undefined) return undefined;
  // Insert a line above host's first key, with its indentation (block style only).
  const at = scenario.host.range.start;
  const lineStart = text.lastIndexOf("\n", at - 1) + 1;
  const indent = text.slice(lineStart, at);
  if (!/^ +$/.test(indent)) return undefined;
  return {
    title: l10n.t("What if pcie_acs_override={0} (unsafe isolation): {1}", WHAT_IF_ACS_OVERRIDE, w.map((g) => l10n.t("{0} in group {1}", g.key, g.group)).join(", ")),
    preferred: false,
    edits: [{ start: lineStart, end: lineStart, text: `${indent}acs-override: "${WHAT_IF_ACS_OVERRIDE}"\n` }],
  };
}

function alignFix(step: Extract<Step, { op: "map" | "guest-map" }>, text: string): TextEditFix | undefined {
  const body = text.slice(step.range.start, step.range.end);
  const iovaM = /\biova\s*:\s*([0-9a-fA-Fx_]+)/.exec(body);
  const sizeM = /\bsize\s*:\s*([0-9a-zA-Z_.]+)/.exec(body);
  if (!iovaM || !sizeM) return undefined;
  const start = step.iova & ~(PAGE - 1n);
  const end = (step.iova + step.size + PAGE - 1n) & ~(PAGE - 1n);
  const size = end - start;
  const at = (m: RegExpExecArray) => step.range.start + m.index + m[0].length - m[1]!.length;
  // Only the values that change are edited, each in the user's own style; every other token of
  // the step (separators, units, comments) stays byte-identical.
  const edits: TextEditFix["edits"] = [];
  const iovaText = formatAddressLike(start, iovaM[1]);
  const sizeText = formatSizeLike(size, sizeM[1]!);
  if (start !== step.iova) edits.push({ start: at(iovaM), end: at(iovaM) + iovaM[1]!.length, text: iovaText });
  if (size !== step.size) edits.push({ start: at(sizeM), end: at(sizeM) + sizeM[1]!.length, text: sizeText });
  const gpaM = "gpa" in step && step.gpa !== undefined ? /\bgpa\s*:\s*([0-9a-fA-Fx_]+)/.exec(body) : null;
  if (gpaM && step.gpa !== undefined && (step.gpa & (PAGE - 1n)) !== 0n) edits.push({ start: at(gpaM), end: at(gpaM) + gpaM[1]!.length, text: formatAddressLike(step.gpa & ~(PAGE - 1n), gpaM[1]) });
  if (edits.length === 0) return undefined;
  return { title: l10n.t("Align to 4 KiB pages: iova {0}, size {1}", iovaText, sizeText), preferred: true, edits };
}
