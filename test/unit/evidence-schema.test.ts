/**
 * `passthrough decode --json` against its documented schema (schemas/evidence.schema.json), for
 * every evidence fixture and for samples of each newer kind (boot state, device events, lspci -n,
 * a libvirt domain with hostdev options, a QEMU script).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv from "ajv";
import { beforeAll, describe, expect, it } from "vitest";

const root = join(__dirname, "..", "..");
const cli = join(root, "dist", "cli.mjs");
const fixtures = join(root, "test", "fixtures", "evidence");
const schema = JSON.parse(readFileSync(join(root, "schemas", "evidence.schema.json"), "utf8")) as object;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

const samples: Record<string, string> = {
  "boot.log": "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz intel_iommu=on iommu=pt\n[    0.012345] DMAR: IOMMU enabled\n[    0.101010] DMAR-IR: Enabled IRQ remapping in x2apic mode\n[    0.350000] iommu: Default domain type: Passthrough (set via kernel command line)\n",
  "reset.log": "vfio-pci 0000:03:00.0: vfio_bar_restore: reset recovery - restoring BARs\npcieport 0000:00:01.1: AER: Multiple Uncorrectable (Non-Fatal) error message received from 0000:03:00.1\n[  727.0] vfio-pci 0007:00:00.1: not ready 65535ms after FLR; giving up\n",
  "lspci-n.txt": "01:00.0 0300: 10de:1b80 (rev a1)\n\tKernel driver in use: vfio-pci\n01:00.1 0403: 10de:10f0 (rev a1)\n",
  "win11.xml": "<domain type='kvm'><name>win11</name><memory unit='GiB'>16</memory><vcpu>8</vcpu><devices><hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio'/><source><address domain='0x0000' bus='0x0a' slot='0x00' function='0x0'/></source><alias name='hostdev0'/></hostdev><iommu model='intel'><driver intremap='on' caching_mode='on' aw_bits='48'/></iommu></devices></domain>\n",
  "launch.sh": "#!/bin/bash\nGPU=0000:01:00.0\nulimit -l 17825792\nqemu-system-x86_64 -machine q35,accel=kvm -m 16G -smp 8 \\\n  -device intel-iommu,intremap=on,caching-mode=on \\\n  -device vfio-pci,host=$GPU,id=gpu\n",
};

function decodeJson(file: string): unknown {
  const r = spawnSync(process.execPath, [cli, "decode", file, "--json"], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe("decode --json and its schema", () => {
  let dir = "";
  beforeAll(() => {
    if (!existsSync(cli)) execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root });
    dir = mkdtempSync(join(tmpdir(), "evidence-schema-"));
    for (const [name, text] of Object.entries(samples)) writeFileSync(join(dir, name), text);
  });

  const files = [...readdirSync(fixtures).filter((f) => !f.endsWith(".md")).map((f) => ["fixture", f] as const), ...Object.keys(samples).map((f) => ["sample", f] as const)];
  it.each(files)("%s %s validates", (where, name) => {
    const out = decodeJson(join(where === "fixture" ? fixtures : dir, name));
    const ok = validate(out);
    expect(validate.errors ?? [], JSON.stringify(out).slice(0, 2000)).toEqual([]);
    expect(ok).toBe(true);
  });

  it("the schema rejects what the documentation rules out (a short BDF, a decimal address, an unknown source)", () => {
    const rec = { file: "f", line: 1, endLine: 1, timestamp: null, summary: "s", context: [], source: "vtd", type: "dma-read", bdf: "0000:03:00.0", address: "0x1000", reason: 6, reasonText: "x", pasid: null };
    expect(validate({ file: "f", records: [rec], skipped: [] })).toBe(true);
    expect(validate({ file: "f", records: [{ ...rec, bdf: "03:00.0" }], skipped: [] })).toBe(false);
    expect(validate({ file: "f", records: [{ ...rec, address: "4096" }], skipped: [] })).toBe(false);
    expect(validate({ file: "f", records: [{ ...rec, source: "nvidia" }], skipped: [] })).toBe(false);
  });
});
