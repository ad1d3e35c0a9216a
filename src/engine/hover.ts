/**
 * Hovers on a scenario: BDFs (device, group, viability, requester id, where it is assigned),
 * addresses (which VM region, which VFIO mapping, the IOMMU walk at that step) and raw entries
 * (a poke's value decoded as the structure it is written to).
 *
 * The state shown is the machine *before* the hovered step, i.e. what that step sees.
 * Markdown is assembled here from escaped pieces; user text only ever appears in code spans.
 */
import type { HoverAnswer, Radix } from "../protocol/engine.js";
import type { Machine } from "../sim/machine.js";
import { formatSize, fullBdf } from "../sim/machine.js";
import { normaliseBdfKey } from "../sim/pci.js";
import { decodeContextEntry, formatSid, awToLevels } from "../sim/vtd/context.js";
import type { Step } from "../scenario/types.js";
import { parseAddress } from "../scenario/values.js";
import { explainWalk, type WalkExplanation } from "./walk.js";

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
}

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
  const parsed = parseAddress(n.text.replace(/\s/g, ""));
  if (!parsed.ok) return null;
  const markdown = numberHover(h, key, parsed.value);
  return markdown ? { markdown, start: n.start, end: n.end } : null;
}

function bdfHover(m: Machine, text: string): string | undefined {
  const key = normaliseBdfKey(text);
  const dev = key ? m.pci.device(key) : undefined;
  if (!dev) return key ? `**${code(text)}** — no such device in \`host.pci\`` : undefined;
  const s = dev.spec;
  const g = m.pci.groupOf(dev);
  const v = m.pci.viability(g);
  const sid = m.pci.requesterId(dev);
  const aliases = m.pci.dmaAliases(dev).filter((a) => a !== sid);
  const vms = [...m.vms.values()].filter((vm) => vm.devices.includes(dev.key)).map((vm) => vm.spec.name);
  const lines = [
    `**${code(fullBdf(dev))}** ${s.name ? md(s.name) : ""}${s.vendorId !== undefined ? ` ${code(`[${s.vendorId.toString(16).padStart(4, "0")}:${(s.deviceId ?? 0).toString(16).padStart(4, "0")}]`)}` : ""}`,
    "",
    `- kind: ${md(dev.kind)}; driver: ${s.driver ? code(s.driver) : "none"}`,
    `- requester id ${code(formatSid(sid))}${aliases.length ? `; DMA also arrives as ${aliases.map((a) => code(formatSid(a))).join(", ")} (bridge aliasing)` : ""}`,
    `- IOMMU group ${g.id}: ${g.devices.map((d) => code(d.key)).join(", ")} — ${v.viable ? "viable" : `**not viable**: ${v.blockers.map((b) => md(b.why)).join("; ")}`}`,
    `- assigned to: ${vms.length ? vms.map(code).join(", ") : "no VM at this step"}`,
  ];
  return lines.join("\n");
}

function numberHover(h: HoverInput, key: string | undefined, value: bigint): string | undefined {
  const m = h.machine;
  const step = h.step;
  const head = `${code(hx(value))} = ${value.toString(10)}${value >= 1024n && value % 1024n === 0n ? ` = ${md(formatSize(value))}` : ""}`;
  const parts = [head];
  switch (key) {
    case "iova":
    case "address": {
      if (key === "address" && step?.op === "poke") {
        parts.push("", `HPA written by this poke: ${describeHpa(m, value)}`);
        break;
      }
      const devices = stepDevices(m, step);
      for (const dev of devices.slice(0, 2)) {
        const dsid = m.pci.device(dev);
        if (!dsid) continue;
        const write = step?.op === "dma" || step?.op === "translate" ? step.write : false;
        parts.push("", walkMarkdown(explainWalk(m, m.pci.requesterId(dsid), value, write), dev));
      }
      const mapping = vfioMappingOf(m, step, value, devices);
      if (mapping) parts.push("", mapping);
      break;
    }
    case "gpa": {
      const vm = step && "vm" in step ? m.vms.get(step.vm) : undefined;
      if (vm) {
        const slot = vm.guest.memslots.find((s) => value >= s.gpa && value < s.gpa + s.size);
        const hpa = vm.guest.gpaToHpa(value);
        parts.push("", slot ? `GPA in ${code(vm.spec.name)} memslot ${slot.slot} (${md(slot.name)}): HVA ${code(hx(slot.hva + (value - slot.gpa)))}${hpa !== undefined ? `, HPA ${code(hx(hpa))}` : " (not backed: VM not running)"}` : `GPA outside every memslot of ${code(vm.spec.name)} — VFIO would fail to pin it (EFAULT)`);
      }
      break;
    }
    case "value":
      if (step?.op === "poke") parts.push("", decodeRaw(value, step.target?.structure ?? "pte"));
      break;
  }
  return parts.join("\n");
}

function stepDevices(m: Machine, step: Step | undefined): string[] {
  if (!step) return [];
  if ("device" in step && typeof step.device === "string") return [step.device];
  if (step.op === "poke" && step.target) return [step.target.device];
  if ("vm" in step) return m.vms.get(step.vm)?.devices ?? m.scenario.vms.find((v) => v.name === step.vm)?.devices ?? [];
  return [];
}

/**
 * The VFIO mapping covering an IOVA, and the VM memory region it lands in (HVA -> the memslot
 * whose host range holds it -> GPA), for the step's VM or the VM its device is assigned to.
 */
function vfioMappingOf(m: Machine, step: Step | undefined, iova: bigint, devices: string[]): string | undefined {
  const vm = step && "vm" in step ? m.vms.get(step.vm) : [...m.vms.values()].find((v) => devices.some((d) => v.devices.includes(d)));
  const c = vm?.container;
  if (!vm || !c) return undefined;
  const d = c.dmas.find((x) => iova >= x.iova && iova < x.iova + x.size);
  if (!d) return `No VFIO mapping of ${code(vm.spec.name)} covers this IOVA at this step.`;
  const hva = d.vaddr + (iova - d.iova);
  const slot = vm.guest.memslots.find((x) => hva >= x.hva && hva < x.hva + x.size);
  const region = slot
    ? ` → GPA ${code(hx(slot.gpa + (hva - slot.hva)))} in ${code(vm.spec.name)} memslot ${slot.slot} (${md(slot.name)})`
    : " (outside every memslot of the VM)";
  return `VFIO mapping of ${code(vm.spec.name)}: IOVA ${code(`${hx(d.iova)}-${hx(d.iova + d.size - 1n)}`)} → HVA ${code(hx(d.vaddr))}; this IOVA is HVA ${code(hx(hva))}${region}`;
}

export function walkMarkdown(w: WalkExplanation, device: string): string {
  const rows = w.stages.map((s) => {
    const what = s.kind === "root" ? `root[${s.index.toString(16).padStart(2, "0")}]` : s.kind === "context" ? `context[${(s.index >> 3).toString(16).padStart(2, "0")}.${s.index & 7}]` : `L${s.level}[${s.index}]`;
    return `| ${what} | ${code(hx(s.address))} | ${code(s.raw.map((r) => `0x${r.toString(16).padStart(16, "0")}`).join(" "))} | ${md(s.fields.map(([k, v]) => `${k}=${v}`).join(" "))}${s.stop ? ` **← ${md(s.stop)}**` : ""} |`;
  });
  return [
    `**Walk for ${code(device)} ${w.write ? "write" : "read"}** — ${md(w.summary)}`,
    "",
    ...(rows.length ? ["| entry | HPA | raw | decoded |", "|---|---|---|---|", ...rows] : []),
  ].join("\n");
}

function describeHpa(m: Machine, hpa: bigint): string {
  if (m.mem.inPool(Number(hpa))) return `${code(hx(hpa))} is in the IOMMU's table pool (root/context/page tables)`;
  return `${code(hx(hpa))} is host DRAM`;
}

/** A raw 64-bit value decoded as the structure it is written to. */
export function decodeRaw(v: bigint, structure: "root" | "context-lo" | "context-hi" | "pte"): string {
  switch (structure) {
    case "root":
      return `as a root entry (low qword): P=${v & 1n}, CTP=${code(hx(v & 0x000ffffffffff000n))}${v & 0xffen ? `, reserved bits ${code(hx(v & 0xffen))} set → fault 0x0a` : ""}`;
    case "context-lo": {
      const ce = decodeContextEntry(v, 0n);
      return `as a context entry (low qword): P=${ce.present ? 1 : 0}, FPD=${ce.fpd ? 1 : 0}, T=${ce.tt}, SLPTPTR=${code(hx(ce.slptptr))}${v & 0xff0n ? `, reserved bits ${code(hx(v & 0xff0n))} set → fault 0x0b` : ""}`;
    }
    case "context-hi": {
      const ce = decodeContextEntry(1n, v);
      return `as a context entry (high qword): AW=${ce.aw} (${awToLevels(ce.aw)}-level), DID=${ce.did}${v & 0xffffffffff000080n ? `, reserved bits ${code(hx(v & 0xffffffffff000080n))} set → fault 0x0b` : ""}`;
    }
    case "pte":
      return `as a second-level PTE: R=${v & 1n}, W=${(v >> 1n) & 1n}, PS=${(v >> 7n) & 1n}, ADDR=${code(hx(v & 0x000ffffffffff000n))}${(v & 3n) === 0n ? " — not present" : ""}`;
  }
}
