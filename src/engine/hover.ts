/**
 * Hovers on a scenario: BDFs (device, group, viability, requester id, where it is assigned),
 * addresses (which VM region, which VFIO mapping, the IOMMU walk at that step) and raw entries
 * (a poke's value decoded as the structure it is written to).
 *
 * The state shown is the machine *before* the hovered step, i.e. what that step sees.
 * Markdown is assembled here from escaped pieces; user text only ever appears in code spans.
 */
import { HOVER_COMMANDS, type HoverAnswer, type Radix } from "../protocol/engine.js";
import type { Machine } from "../sim/machine.js";
import { formatSize, fullBdf, pokeValue } from "../sim/machine.js";
import { describeState } from "../protocol/cursor.js";
import { bdfKey, formatSid } from "../sim/bdf.js";
import { fieldText, type EntryTarget } from "../sim/iommu.js";
import type { Step } from "../scenario/types.js";
import { parseAddress, parseSize } from "../scenario/values.js";
import { explainWalk, fromTranslation, type WalkExplanation, type WalkStage } from "./walk.js";
import { plural } from "../sim/plural.js";
import * as l10n from "@vscode/l10n";
import { memlockHover } from "./memlockHover.js";
import { qword } from "./trees/common.js";

/** Text inside a code span: backticks can't be escaped there, so they are replaced. */
export function code(text: string): string {
  const t = text.replace(/`/g, "'").replace(/[\r\n]+/g, " ").slice(0, 200);
  return `\`${t}\``;
}

/** Markdown-escapes plain text. */
export function md(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~&]/g, (c) => `\\${c}`).slice(0, 2000);
}

const hx = (v: bigint | number) => `0x${v.toString(16)}`;

const BDF_RE = /\b(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-1]?[0-9a-fA-F]\.[0-7]\b/g;
const NUM_RE = /\b(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\s?[KMGT]i?B)?)\b/g;

export interface HoverInput {
  machine: Machine;
  step: Step | undefined;
  lineText: string;
  character: number;
  radix: Radix;
  /** 0-based index of the hovered step and the workload's length (for "before step 3 of 4"). */
  stepIndex?: number;
  steps?: number;
  /**
   * The hovered step carries a run diagnostic (an unexpected fault, a failed expectation): VS Code
   * shows it in the same hover, so the walk's hover leaves out the verdict's explanation.
   */
  diagnosed?: boolean;
}

/** Keys whose value is a size or a length: only these are ever shown as KiB/MiB/GiB. */
const SIZE_KEYS = new Set(["size", "length", "memory", "repeat", "memlock", "hard-limit"]);

/** The token under the cursor, or undefined. */
function tokenAt(re: RegExp, text: string, ch: number): { text: string; start: number; end: number } | undefined {
  re.lastIndex = 0;
  for (const m of text.matchAll(re)) {
    const start = m.index ?? 0;
    const end = start + m[0].length;
    if (ch >= start && ch <= end) return { text: m[0], start, end };
  }
  return undefined;
}

export function hoverAt(h: HoverInput): HoverAnswer | null {
  const bdf = tokenAt(BDF_RE, h.lineText, h.character);
  if (bdf) {
    const markdown = bdfHover(h.machine, bdf.text);
    return markdown ? { markdown, start: bdf.start, end: bdf.end } : null;
  }
  const n = tokenAt(NUM_RE, h.lineText, h.character);
  if (!n) return null;
  const key = /([A-Za-z][\w-]*)\s*:\s*["']?$/.exec(h.lineText.slice(0, n.start))?.[1];
  const raw = n.text.replace(/\s/g, "");
  const parsed = key !== undefined && SIZE_KEYS.has(key) ? parseSize(raw) : parseAddress(raw);
  if (!parsed.ok) return null;
  const markdown = numberHover(h, key, parsed.value);
  return markdown ? { markdown, start: n.start, end: n.end } : null;
}

function bdfHover(m: Machine, text: string): string | undefined {
  const key = bdfKey(text);
  const dev = key ? m.pci.device(key) : undefined;
  if (!dev) return key ? l10n.t("**{0}** — no such device in `host.pci`", code(text)) : undefined;
  const s = dev.spec;
  const g = m.pci.groupOf(dev);
  const v = m.pci.viability(g);
  const sid = m.pci.requesterId(dev);
  const aliases = m.pci.dmaAliases(dev).filter((a) => a !== sid);
  const vms = [...m.vms.values()].filter((vm) => vm.devices.includes(dev.key)).map((vm) => vm.spec.name);
  const lines = [
    `**${code(fullBdf(dev))}** ${s.name ? md(s.name) : ""}${s.vendorId !== undefined ? ` ${code(`[${s.vendorId.toString(16).padStart(4, "0")}:${(s.deviceId ?? 0).toString(16).padStart(4, "0")}]`)}` : ""}`,
    "",
    l10n.t("- kind: {0}; driver: {1}", md(dev.kind), s.driver ? code(s.driver) : l10n.t("none")),
    l10n.t("- requester id {0}{1}", code(formatSid(sid)), aliases.length ? l10n.t("; DMA also arrives as {0} (bridge aliasing)", aliases.map((a) => code(formatSid(a))).join(", ")) : ""),
    l10n.t("- IOMMU group {0}: {1} — {2}", g.id, g.devices.map((d) => code(d.key)).join(", "), v.viable ? l10n.t("viable") : l10n.t("**not viable**: {0}", v.blockers.map((b) => md(b.why)).join("; "))),
    l10n.t("- assigned to: {0}", vms.length ? vms.map(code).join(", ") : l10n.t("no VM at this step")),
  ];
  return lines.join("\n");
}

/** A number in the user's radix first, the other radix after it. */
function both(v: bigint, radix: Radix): string {
  return radix === "dec" ? `${code(v.toString(10))} = ${code(hx(v))}` : `${code(hx(v))} = ${code(v.toString(10))}`;
}

/** An address in the user's radix, as a code span. */
function addr(v: bigint, radix: Radix): string {
  return code(radix === "dec" ? v.toString(10) : hx(v));
}

function numberHover(h: HoverInput, key: string | undefined, value: bigint): string | undefined {
  const m = h.machine;
  const step = h.step;
  // An address is an address: only sizes and lengths are rendered as KiB/MiB/GiB.
  const isSize = key !== undefined && SIZE_KEYS.has(key);
  const tail = `${both(value, h.radix)}${isSize && value >= 1024n && value % 1024n === 0n ? ` = ${md(formatSize(value))}` : ""}`;
  const parts: string[] = [];
  switch (key) {
    case "iova":
    case "address": {
      if (key === "address" && step?.op === "poke") {
        parts.push(l10n.t("HPA written by this poke: {0}", describeHpa(m, value, h.radix)));
        break;
      }
      const devices = stepDevices(m, step);
      const guest = step?.op === "guest-map" || step?.op === "guest-unmap" ? guestWalk(m, step, value, h) : undefined;
      if (guest) parts.push(guest);
      for (const dev of devices.slice(0, 2)) {
        const d = m.pci.device(dev);
        if (!d) continue;
        const write = step?.op === "dma" || step?.op === "translate" ? step.write : false;
        parts.push(walkVerdict(explainWalk(m, m.pci.requesterId(d), value, write), d.key, h));
      }
      const mapping = vfioMappingOf(m, step, value, devices, h.radix);
      if (mapping) parts.push(mapping);
      break;
    }
    case "gpa": {
      const vm = step && "vm" in step && step.vm !== undefined ? m.vms.get(step.vm) : undefined;
      if (vm) {
        const slot = vm.guest.memslots.find((s) => value >= s.gpa && value < s.gpa + s.size);
        const hpa = vm.guest.gpaToHpa(value);
        parts.push(slot ? l10n.t("GPA in {0} memslot {1} ({2}): HVA {3}{4}", code(vm.spec.name), slot.slot, md(slot.name), addr(slot.hva + (value - slot.gpa), h.radix), hpa !== undefined ? l10n.t(", HPA {0}", addr(hpa, h.radix)) : l10n.t(" (not backed: VM not running)")) : l10n.t("GPA outside every memslot of {0} — VFIO would fail to pin it (EFAULT)", code(vm.spec.name)));
      }
      break;
    }
    case "value":
      if (step?.op === "poke") parts.push(pokeDecode(m, value, step));
      break;
    case "memlock":
    case "hard-limit":
      parts.push(...memlockHover(m.scenario));
      break;
    case "set":
    case "clear":
      if (step?.op === "poke") {
        // A read-modify-write: the word as it is before this step, and as the poke leaves it.
        const before = pokeCurrent(m, step);
        parts.push(
          typeof before === "string"
            ? md(before)
            : key === "set" ? l10n.t("Bits set in the current value: {0} {1} → {2} {3}", code(qword(before)), pokeDecode(m, before, step), code(qword(pokeValue(step, before))), pokeDecode(m, pokeValue(step, before), step)) : l10n.t("Bits cleared in the current value: {0} {1} → {2} {3}", code(qword(before)), pokeDecode(m, before, step), code(qword(pokeValue(step, before))), pokeDecode(m, pokeValue(step, before), step)),
        );
      }
      break;
  }
  parts.push(tail);
  return parts.join("\n\n");
}

/**
 * A guest step's IOVA through the guest's own vIOMMU (guest IOVA -> GPA: the guest unit's explain,
 * the one VT-d walk over the guest's tables) and that GPA in host memory (memslot -> HPA); the host
 * unit's walk of the same IOVA (the QEMU shadow) follows it in the hover.
 */
function guestWalk(m: Machine, step: Extract<Step, { op: "guest-map" | "guest-unmap" }>, iova: bigint, h: HoverInput): string | undefined {
  const vm = m.vms.get(step.vm);
  const v = vm?.viommu;
  const rid = v?.guestRids().get(step.device);
  if (!vm?.running || !v || rid === undefined) return undefined;
  if (!v.iommu) {
    // No guest tables (virtio-iommu): the guest's mapping is the node of QEMU's tree its MAP made.
    const e = v.mappingAt(iova);
    const who = code(`${vm.spec.name} ${formatSid(rid)}`);
    if (!e) return l10n.t("**Guest vIOMMU ({0}): {1} IOVA {2} is not mapped** ({3})", v.model, who, addr(iova, h.radix), md(whenText(h)));
    const gpa = e.gpa + (iova - e.iova);
    const hpa = vm.guest.gpaToHpa(gpa);
    return [l10n.t("**Guest vIOMMU ({0}): {1} IOVA {2} → GPA {3}** (mapping {4} of {5}; {6})", v.model, who, addr(iova, h.radix), addr(gpa, h.radix), addr(e.iova, h.radix), formatSize(e.size), md(whenText(h))), hpa !== undefined ? l10n.t("GPA {0} → HPA {1} (guest RAM)", addr(gpa, h.radix), addr(hpa, h.radix)) : ""].filter(Boolean).join("  \n");
  }
  const w = fromTranslation(v.iommu.explain({ sid: rid, iova, write: false }), v.iommu);
  const who = code(`${vm.spec.name} ${formatSid(rid)}`);
  const when = md(whenText(h));
  const last = w.stages[w.stages.length - 1];
  const entry = last ? `${code(stageName(last))} ${code(last.raw.map((r) => `0x${r.toString(16).padStart(16, "0")}`).join(" "))}${last.stop ? ` **← ${md(last.stop)}**` : ""}` : "";
  if (w.reason !== 0 || w.hpa === undefined) return [l10n.t("**Guest vIOMMU: {0} IOVA {1} is not mapped in the guest's tables** ({2})", who, addr(iova, h.radix), when), entry].filter(Boolean).join("  \n");
  const hpa = vm.guest.gpaToHpa(w.hpa);
  return [
    l10n.t("**Guest vIOMMU: {0} IOVA {1} → GPA {2}** (walk of {3} in the guest's tables; {4})", who, addr(iova, h.radix), addr(w.hpa, h.radix), plural(w.stages.length, "entry", "entries"), when),
    entry,
    hpa !== undefined ? l10n.t("GPA {0} → HPA {1} (guest RAM)", addr(w.hpa, h.radix), addr(hpa, h.radix)) : "",
  ].filter(Boolean).join("  \n");
}

/** "before step 3 of 4" for the hovered step. */
function whenText(h: HoverInput): string {
  return h.stepIndex !== undefined && h.steps !== undefined ? describeState(h.stepIndex, h.steps, false) : l10n.t("at the cursor");
}

/** The entry as the model names it (the trail's name: "root entry", "SL-PDE"), indexed as its table is. */
function stageName(s: WalkStage): string {
  return `${s.name}[${s.indexText}]`;
}

/**
 * The walk's verdict and the entry that decided it, in two lines, with a link to the full walk
 * (Translate Address at that step: the walk in Mapping Tables and the log). The model's walk
 * (walk.ts) decides; this only picks its deciding stage.
 */
export function walkVerdict(w: WalkExplanation, device: string, h: HoverInput): string {
  const when = whenText(h);
  let verdict: string;
  if (w.reason !== 0) {
    // The diagnostic above already names the fault and explains it: say only where it happens.
    verdict = h.diagnosed ? (w.write ? l10n.t("**{0} write faults here** ({1})", code(device), md(when)) : l10n.t("**{0} read faults here** ({1})", code(device), md(when))) : (w.write ? l10n.t("**{0} write: fault {1}**{2} ({3})", code(device), md(w.reasonLabel), w.iotlbHit ? l10n.t(" (answered by the IOTLB)") : "", md(when)) : l10n.t("**{0} read: fault {1}**{2} ({3})", code(device), md(w.reasonLabel), w.iotlbHit ? l10n.t(" (answered by the IOTLB)") : "", md(when)));
  } else if (w.kind === "translated") {
    const size = w.leafLevel === 3 ? "1 GiB" : w.leafLevel === 2 ? "2 MiB" : "4 KiB";
    verdict = (w.write ? l10n.t("**{0} write → HPA {1}** ({2} page, {3}; {4})", code(device), addr(w.hpa ?? 0n, h.radix), size, w.iotlbHit ? l10n.t("IOTLB hit") : l10n.t("walk"), md(when)) : l10n.t("**{0} read → HPA {1}** ({2} page, {3}; {4})", code(device), addr(w.hpa ?? 0n, h.radix), size, w.iotlbHit ? l10n.t("IOTLB hit") : l10n.t("walk"), md(when)));
  } else {
    verdict = w.write ? l10n.t("**{0} write:** {1} ({2})", code(device), md(w.summary), md(when)) : l10n.t("**{0} read:** {1} ({2})", code(device), md(w.summary), md(when));
  }
  const last = w.stages[w.stages.length - 1];
  const lines = [verdict];
  if (last) {
    const fields = last.fields.map(([k, v]) => `${k}=${v.replace(/ \(.*\)$/, "")}`).join(" ");
    const decided = last.stop ? ` **← ${md(last.stop)}**` : "";
    lines.push(`${code(stageName(last))} ${code(last.raw.map((r) => `0x${r.toString(16).padStart(16, "0")}`).join(" "))} ${md(fields)}${decided}`);
    if (w.iotlbHit && w.reason === 0 && last.stop) lines.push(l10n.t("The tables now say otherwise: a stale IOTLB entry answered."));
  }
  const args = encodeURIComponent(JSON.stringify([device, hx(w.iova), w.write, h.stepIndex ?? null]));
  const n = w.stages.length;
  const label = n === 1 ? l10n.t("Full walk (1 entry) in Mapping Tables") : l10n.t("Full walk ({0} entries) in Mapping Tables", n);
  const link = `command:${HOVER_COMMANDS[0]}?${args} "${l10n.t("Translate this address at this step: reveals the walk's last entry in Mapping Tables and logs every entry").replace(/["\\]/g, "\\$&")}"`;
  lines.push(`[${label}](${link})`);
  return lines.join("  \n");
}

/** A poke's word decoded as what it is written to: RTADDR's fields, or the table entry. */
function pokeDecode(m: Machine, v: bigint, step: Extract<Step, { op: "poke" }>): string {
  if (step.register !== undefined) return l10n.t("as {0}: {1}", step.register, (m.iommu.decodeRegister(step.register, v) ?? []).map((f) => `${f.name}=${md(f.value)}`).join(", "));
  return decodeRaw(m, v, step.target?.structure ?? "pte", step.target?.level);
}

/** The word a poke would change, as the machine holds it before the step, or why it cannot be found. */
function pokeCurrent(m: Machine, step: Extract<Step, { op: "poke" }>): bigint | string {
  if (step.register !== undefined) {
    // A host of several units (host.iommus): the register of the unit the poke names.
    const unit = step.unit === undefined ? m.iommu : m.hostUnits.units[m.hostUnits.names.indexOf(step.unit)];
    if (unit === undefined) return `no IOMMU unit ${step.unit ?? ""}`;
    return unit.registers().find((r) => r.name === step.register)?.value ?? `no register ${step.register}`;
  }
  const at = step.address !== undefined ? Number(step.address) : m.resolveEntry(step.target!);
  if (typeof at === "string") return at;
  return m.mem.readU64(at) ?? l10n.t("{0} is not host memory", `0x${at.toString(16)}`);
}

function stepDevices(m: Machine, step: Step | undefined): string[] {
  if (!step) return [];
  if ("device" in step && typeof step.device === "string") return [step.device];
  if (step.op === "poke" && step.target) return [step.target.device];
  if ("vm" in step && step.vm !== undefined) {
    const name = step.vm;
    return m.vms.get(name)?.devices ?? m.scenario.vms.find((v) => v.name === name)?.devices ?? [];
  }
  return [];
}

/**
 * The VFIO mapping covering an IOVA, and the VM memory region it lands in (HVA -> the memslot
 * whose host range holds it -> GPA), for the step's VM or the VM its device is assigned to.
 */
function vfioMappingOf(m: Machine, step: Step | undefined, iova: bigint, devices: string[], radix: Radix): string | undefined {
  const vm = step && "vm" in step && step.vm !== undefined ? m.vms.get(step.vm) : [...m.vms.values()].find((v) => devices.some((d) => v.devices.includes(d)));
  const c = vm?.container;
  if (!vm || !c) return undefined;
  const d = c.dmas.find((x) => iova >= x.iova && iova < x.iova + x.size);
  if (!d) return l10n.t("No VFIO mapping of {0} covers this IOVA at this step.", code(vm.spec.name));
  const hva = d.vaddr + (iova - d.iova);
  const slot = vm.guest.memslots.find((x) => hva >= x.hva && hva < x.hva + x.size);
  const region = slot
    ? l10n.t(" → GPA {0} in {1} memslot {2} ({3})", addr(slot.gpa + (hva - slot.hva), radix), code(vm.spec.name), slot.slot, md(slot.name))
    : l10n.t(" (outside every memslot of the VM)");
  const a = (v: bigint) => (radix === "dec" ? v.toString(10) : hx(v));
  return l10n.t("VFIO mapping of {0}: IOVA {1} → HVA {2}; this IOVA is HVA {3}{4}", code(vm.spec.name), code(`${a(d.iova)}-${a(d.iova + d.size - 1n)}`), addr(d.vaddr, radix), addr(hva, radix), region);
}

function describeHpa(m: Machine, hpa: bigint, radix: Radix): string {
  if (m.mem.inPool(Number(hpa))) return l10n.t("{0} is in the IOMMU's table pool (root/context/page tables)", addr(hpa, radix));
  return l10n.t("{0} is host DRAM", addr(hpa, radix));
}

/** A raw 64-bit value decoded as the structure it is written to, by the model's decoders (IommuUnit.decodeWord). */
export function decodeRaw(m: Machine, v: bigint, structure: EntryTarget["structure"], level?: number): string {
  const d = m.iommu.decodeWord(structure, v, level);
  if (structure === "root-hi") return l10n.t("as a root entry (high qword): reserved in legacy mode{0}", d.reserved ? l10n.t("; bits {0} set → fault {1}", code(hx(d.reserved.bits)), `0x${d.reserved.reason.toString(16).padStart(2, "0")}`) : "");
  const what = structure === "root" ? l10n.t("a root entry (low qword)") :  structure === "context-lo" ? l10n.t("a context entry (low qword)") : structure === "context-hi" ? l10n.t("a context entry (high qword)") : structure === "pasid-entry" ? l10n.t("a PASID-level context entry (low qword)") : l10n.t("a second-level PTE (level {0})", level ?? 1);
  const fields = d.fields.map((f) => `${f.name}=${f.value.startsWith("0x") ? code(f.value) : fieldText(f)}`).join(", ");
  const rsvd = d.reserved ? l10n.t(", reserved bits {0} set → fault {1}", code(hx(d.reserved.bits)), `0x${d.reserved.reason.toString(16).padStart(2, "0")}`) : "";
  return l10n.t("as {0}: {1}{2}{3}", what, fields, rsvd, structure === "pte" && !d.present ? l10n.t(" — not present") : "");
}
